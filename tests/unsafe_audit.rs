//! Every `unsafe` block and `unsafe impl` in src/ carries a `// SAFETY:`
//! comment arguing why it is sound: on the same line or within the three
//! lines above it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_unsafe_block_has_a_safety_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let (mut checked, mut missing) = (0, Vec::new());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.split("//").next().unwrap();
            if !(code.contains("unsafe {") || code.contains("unsafe impl")) {
                continue;
            }
            checked += 1;
            let ok = (i.saturating_sub(3)..=i).any(|j| lines[j].contains("SAFETY:"));
            if !ok {
                missing.push(format!("{}:{}: {}", f.strip_prefix(root).unwrap().display(), i + 1, l.trim()));
            }
        }
    }
    assert!(checked > 50, "the scan found only {checked} unsafe sites");
    assert!(missing.is_empty(), "{} unsafe sites without a SAFETY: comment:\n{}", missing.len(), missing.join("\n"));
}
