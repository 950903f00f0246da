//! Replays the saved fuzz corpus (`fuzz/corpus/<target>/*`) through every
//! target: inputs that once crashed or found new paths must keep passing.

use std::path::Path;

#[test]
fn every_saved_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, body) in kms_fuzz::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus of {name} at {}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            body(&data);
            count += 1;
        }
        assert!(count > 0, "the corpus of {name} is empty");
        total += count;
    }
    println!("replayed {total} inputs");
}
