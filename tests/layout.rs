//! The README's layout section names the workspace's folders; a newcomer checks it against the
//! tree, so every path it names must exist, and every crate in `crates/` must be in it.

use std::path::Path;

#[test]
fn every_path_the_readme_layout_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## Layout")
        .nth(1)
        .expect("the README has a Layout section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Layout section holds a code block");
    let named: Vec<&str> = block
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(named.len() >= 10, "{named:?}");
    for path in &named {
        assert!(
            root.join(path).exists(),
            "the README's layout names {path}, which is gone"
        );
    }
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let name = format!("crates/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(
            named.contains(&name.as_str()),
            "{name} is missing from the README's layout"
        );
    }
}
