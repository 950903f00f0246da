//! `kurento-media-server module new NAME [DIR]`: writes a ready-to-build
//! module into `DIR/<name>` (default: the current directory), as KMS's
//! `kurento-module-scaffold` does for its C++ modules: the kmd (one class,
//! `<Name>`, extending Filter, with a property, a method and an event), a
//! GStreamer video filter in C bound to it, its Makefile, a test script and
//! a README. `make` builds the element; the server loads the module with
//! `--modules-path DIR/<name>`. The templates are `scaffold/*.tmpl`.

use std::path::{Path, PathBuf};

/// The names a module is written with, from `NAME` (`invert-colors`).
#[derive(Debug, PartialEq, Eq)]
pub struct Names {
    /// As given.
    pub name: String,
    /// `InvertColors`: the class.
    pub camel: String,
    /// `invertcolors`: the kmd module, the element factory, the files.
    pub lower: String,
    /// `invert_colors`: C identifiers (the plugin is named `lower`, as
    /// GStreamer finds it from its file name `lib<lower>.so`).
    pub snake: String,
}

impl Names {
    /// `name`: a letter, then letters, digits, `-` or `_`. Errors say why not.
    pub fn parse(name: &str) -> Result<Names, String> {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!("'{name}' is not a module name: a letter, then letters, digits, '-' or '_'"));
        }
        let parts: Vec<&str> = name.split(['-', '_']).filter(|p| !p.is_empty()).collect();
        let camel: String = parts.iter().map(|p| p[..1].to_ascii_uppercase() + &p[1..]).collect();
        Ok(Names { name: name.to_owned(), lower: camel.to_lowercase(), snake: parts.iter().map(|p| p.to_lowercase()).collect::<Vec<_>>().join("_"), camel })
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{Camel}}", &self.camel)
            .replace("{{module}}", &self.lower)
            .replace("{{element}}", &self.lower)
            .replace("{{SNAKE}}", &self.snake.to_uppercase())
            .replace("{{snake}}", &self.snake)
    }
}

/// The files of a module: (path in its directory, template, executable).
const FILES: &[(&str, &str, bool)] = &[
    ("{{module}}.kmd.json", include_str!("../scaffold/kmd.json.tmpl"), false),
    ("gst{{element}}.c", include_str!("../scaffold/element.c.tmpl"), false),
    ("Makefile", include_str!("../scaffold/Makefile.tmpl"), false),
    ("test.sh", include_str!("../scaffold/test.sh.tmpl"), true),
    ("README.md", include_str!("../scaffold/README.md.tmpl"), false),
];

/// Writes the module `name` under `dir`; its directory. Refuses to write
/// over an existing directory.
pub fn write(name: &str, dir: &Path) -> Result<PathBuf, String> {
    let names = Names::parse(name)?;
    let root = dir.join(&names.lower);
    if root.exists() {
        return Err(format!("{} exists already: not written over", root.display()));
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    for (file, template, executable) in FILES {
        let path = root.join(names.fill(file));
        std::fs::write(&path, names.fill(template)).map_err(|e| format!("{}: {e}", path.display()))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(root)
}

/// `module new NAME [DIR]` (the arguments after `module`); the exit status.
pub fn run(args: &[String]) -> std::process::ExitCode {
    match args {
        [new, name] | [new, name, _] if new == "new" => {
            let dir = args.get(2).map_or_else(|| PathBuf::from("."), PathBuf::from);
            match write(name, &dir) {
                Ok(root) => {
                    let root = root.display();
                    println!("module {name} written to {root}: `make -C {root}` builds it, `--modules-path {root}` loads it");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: kurento-media-server module new NAME [DIR]");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_derived_for_each_use_and_bad_ones_refused() {
        let n = Names::parse("invert-colors").unwrap();
        assert_eq!((n.camel.as_str(), n.lower.as_str(), n.snake.as_str()), ("InvertColors", "invertcolors", "invert_colors"));
        assert_eq!(Names::parse("Blur").unwrap().lower, "blur");
        assert!(Names::parse("9lives").is_err() && Names::parse("a b").is_err() && Names::parse("").is_err());
    }

    #[test]
    fn a_module_is_written_once_with_a_kmd_that_loads() {
        let dir = std::env::temp_dir().join(format!("kms-scaffold-{}", std::process::id()));
        let root = write("invert-colors", &dir).unwrap();
        let kmd = std::fs::read_to_string(root.join("invertcolors.kmd.json")).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&kmd).unwrap();
        assert_eq!(parsed["remoteClasses"][0]["name"], "InvertColors");
        assert_eq!(parsed["code"]["implementation"]["elements"]["InvertColors"], "invertcolors");
        let c = std::fs::read_to_string(root.join("gstinvertcolors.c")).unwrap();
        assert!(c.contains("G_DECLARE_FINAL_TYPE (GstInvertColors, gst_invert_colors, GST, INVERT_COLORS") && !c.contains("{{"));
        assert!(write("invert-colors", &dir).unwrap_err().contains("exists already"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
