//! Modules found on the modules path at start-up (KMS's `-p/--modules-path`,
//! `KURENTO_MODULES_PATH`): each directory given (`:`-separated, in order),
//! then KMS's default `/usr/lib/x86_64-linux-gnu/kurento/modules`, searched
//! recursively. A module is the `*.kmd.json` files of one directory: the one
//! with a `name` is the module, files without one (KMS's per-class
//! `<module>.<Class>.kmd.json`) add their classes, types and events to it.
//! The first module of a name wins (KMS's search order). A module whose kmd
//! does not parse or clashes with a loaded one is refused with a log line;
//! the server starts with the rest. The directories that hold modules are
//! added to GStreamer's plugin search, so a module's own element library
//! next to its kmd is found (as is anything on `GST_PLUGIN_PATH`). Symbolic
//! links to directories inside a modules path are not followed.

use kms_idl::{FoundModule, Idl};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// KMS's built-in modules directory (Debian), searched after the given ones.
pub const DEFAULT_DIR: &str = "/usr/lib/x86_64-linux-gnu/kurento/modules";

/// Finds the modules under `paths` and KMS's default directory, installs
/// them into the IDL (before anything else reads it) and logs what was
/// loaded and refused.
pub fn load(paths: Option<&str>) {
    let mut dirs: Vec<PathBuf> = paths.unwrap_or_default().split(':').filter(|p| !p.is_empty()).map(PathBuf::from).collect();
    dirs.push(PathBuf::from(DEFAULT_DIR));
    let (mut found, mut problems, mut module_dirs) = (Vec::new(), Vec::new(), Vec::new());
    for dir in &dirs {
        if dir.is_dir() {
            tracing::debug!("Looking for modules in path: {}", dir.display());
            scan(dir, &mut found, &mut problems, &mut module_dirs);
        } else if dir != Path::new(DEFAULT_DIR) {
            tracing::info!("Skip non-existent or non-directory modules path: {}", dir.display());
        }
    }
    for line in problems.into_iter().chain(Idl::install(found)) {
        tracing::warn!("{line}");
    }
    for m in Idl::get().modules().iter().filter(|m| m.origin.is_some()) {
        tracing::info!("Loaded module: {}, version: {}, from {} (factories: {})", m.name, m.version, m.origin.as_deref().unwrap_or_default(), m.factories.join(", "));
    }
    for dir in module_dirs {
        kms_gst::add_plugin_dir(&dir);
    }
}

/// The entries of `dir`, sorted (the search order is then reproducible).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    all.sort();
    all
}

/// Collects the modules of `dir` and its subdirectories.
fn scan(dir: &Path, found: &mut Vec<FoundModule>, problems: &mut Vec<String>, module_dirs: &mut Vec<PathBuf>) {
    let mut kmds = Vec::new();
    for path in entries(dir) {
        // Symbolic links to directories are not followed (one to a parent would never end).
        let real_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if real_dir {
            scan(&path, found, problems, module_dirs);
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".kmd.json")) {
            kmds.push(path);
        }
    }
    if kmds.is_empty() {
        return;
    }
    let before = found.len();
    merge(&kmds, found, problems);
    if found.len() > before {
        module_dirs.push(dir.to_path_buf());
    }
}

/// The modules of one directory's kmd files (see the module doc).
fn merge(kmds: &[PathBuf], found: &mut Vec<FoundModule>, problems: &mut Vec<String>) {
    let (mut mains, mut fragments) = (Vec::new(), Vec::new());
    for path in kmds {
        let parsed = std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(Value::Object(kmd)) if kmd.contains_key("name") => mains.push((path, kmd)),
            Ok(Value::Object(kmd)) => fragments.push((path, kmd)),
            Ok(_) => problems.push(format!("module kmd {} not loaded: not a JSON object", path.display())),
            Err(e) => problems.push(format!("module kmd {} not loaded: it does not parse: {e}", path.display())),
        }
    }
    if mains.len() != 1 && !fragments.is_empty() {
        let files: Vec<String> = fragments.iter().map(|(p, _)| p.display().to_string()).collect();
        problems.push(format!("kmd files {files:?} not loaded: their directory has {} module kmd files (with a name) to add them to, not one", mains.len()));
        fragments.clear();
    }
    for (path, mut kmd) in mains {
        for (_, fragment) in &fragments {
            for key in ["remoteClasses", "complexTypes", "events"] {
                if let Some(Value::Array(extra)) = fragment.get(key) {
                    if let Value::Array(list) = kmd.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                        list.extend(extra.iter().cloned());
                    }
                }
            }
        }
        found.push(FoundModule { origin: path.display().to_string(), text: Value::Object(kmd).to_string() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_one_module_with_its_class_files_and_broken_files_are_named() {
        let root = std::env::temp_dir().join(format!("kms-modules-{}", std::process::id()));
        let dir = root.join("balance");
        std::fs::create_dir_all(dir.join("deeper/other")).unwrap();
        std::fs::write(dir.join("balance.kmd.json"), r#"{"name":"balance","version":"1.0.0"}"#).unwrap();
        std::fs::write(dir.join("balance.Balance.kmd.json"), r#"{"remoteClasses":[{"name":"Balance","extends":"Filter"}]}"#).unwrap();
        std::fs::write(dir.join("deeper/other/broken.kmd.json"), "{nope").unwrap();
        std::fs::write(dir.join("README.txt"), "not a kmd").unwrap();
        let (mut found, mut problems, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
        scan(&root, &mut found, &mut problems, &mut dirs);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        let kmd: Value = serde_json::from_str(&found[0].text).unwrap();
        assert_eq!(kmd["name"], "balance");
        assert_eq!(kmd["remoteClasses"][0]["name"], "Balance", "the class file joined its module");
        assert!(found[0].origin.ends_with("balance/balance.kmd.json"));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("broken.kmd.json") && problems[0].contains("does not parse"), "{problems:?}");
        assert_eq!(dirs, [dir]);
    }
}
