//! docs/API.md must be exactly what scripts/api-doc.py generates from include/marline.h,
//! every function of the header must state its errors and NULL rules (issue 14 item 13),
//! and must cover every function the header declares (each with a doc comment).
//! `make api-doc` (or MARLINE_BLESS=1 cargo test --test api_doc) rewrites it.

use std::path::Path;
use std::process::Command;

#[test]
fn api_reference_is_fresh_and_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/api-doc.py"))
        .current_dir(root)
        .output()
        .expect("run python3 scripts/api-doc.py");
    assert!(out.status.success(), "scripts/api-doc.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = root.join("docs/API.md");
    if std::env::var_os("MARLINE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(checked_in == generated, "docs/API.md is stale: run `make api-doc` and commit it");

    // Every function declared in the header has its own entry.
    let header = std::fs::read_to_string(root.join("include/marline.h")).unwrap();
    let mut missing = Vec::new();
    let mut count = 0;
    for line in header.lines() {
        // Declarations start in column 0; struct fields are indented.
        if line.starts_with("typedef") || !line.ends_with(");") || !line.starts_with(|c: char| c.is_ascii_lowercase()) {
            continue;
        }
        let Some(name) = line.split('(').next().and_then(|head| head.split_whitespace().last()) else { continue };
        let name = name.trim_start_matches('*');
        count += 1;
        if !checked_in.contains(&format!("#### `{name}`")) {
            missing.push(name.to_string());
        }
    }
    assert!(count > 50, "found only {count} functions in marline.h");
    assert!(missing.is_empty(), "functions missing from docs/API.md: {missing:?}");

    // Every example is linked.
    for dir in ["examples-c", "examples-cpp", "bindings/python/examples"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let rel = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(checked_in.contains(&format!("](../{rel})")), "{rel} is not linked from docs/API.md");
        }
    }
}

/// One function of include/marline.h: its name, return type, parameters
/// (type and name) and doc comment.
struct Function {
    name: String,
    returns: String,
    params: Vec<(String, String)>,
    doc: String,
}

fn functions(header: &str) -> Vec<Function> {
    let mut out = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    for line in header.lines() {
        if let Some(text) = line.strip_prefix("//") {
            doc.push(text.trim());
            continue;
        }
        let declaration = !line.starts_with("typedef") && line.ends_with(");") && line.starts_with(|c: char| c.is_ascii_lowercase());
        if declaration {
            // "type name": the name is the last word, the type all before it.
            let split = |decl: &str| {
                let name = decl.rsplit([' ', '*']).next().unwrap().to_string();
                (decl[..decl.len() - name.len()].trim_end().to_string(), name)
            };
            let (head, rest) = line.split_once('(').unwrap();
            let (returns, name) = split(head);
            let params = rest.trim_end_matches(");").split(", ").filter(|p| *p != "void" && !p.is_empty()).map(split).collect();
            out.push(Function { name, returns, params, doc: doc.join(" ") });
        }
        if !line.starts_with("//") {
            doc.clear();
        }
    }
    out
}

/// Whether `doc` says in one sentence that `param` must not be, or may be,
/// NULL, in the words a C programmer reads the usual way.
fn null_rule(doc: &str, param: &str) -> bool {
    let quoted = format!("`{param}`");
    doc.split(". ").any(|s| s.contains(&quoted) && (s.contains("must not be NULL") || s.contains("may be NULL")))
}

/// Every public function's doc comment is a real description (12 words or
/// more), names the error codes of a function that returns a status, and
/// says for each pointer parameter whether it may be NULL (issue 14 item 13).
#[test]
fn every_function_states_its_errors_and_null_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/marline.h")).unwrap();
    let all = functions(&header);
    assert!(all.len() > 100, "found only {} functions in marline.h", all.len());
    let mut problems = Vec::new();
    for f in &all {
        let words = f.doc.split_whitespace().count();
        if words < 12 {
            problems.push(format!("{}: a doc of {words} words", f.name));
        }
        if f.returns.contains("marline_status_t") && !f.doc.contains("MARLINE_ERR_") {
            problems.push(format!("{}: names no error code", f.name));
        }
        for (ty, name) in &f.params {
            if ty.contains('*') && !null_rule(&f.doc, name) {
                problems.push(format!("{}: no \"`{name}` must not be NULL\" or \"may be NULL\"", f.name));
            }
        }
        if f.doc.contains("is NULL or writable") {
            problems.push(format!("{}: \"is NULL or writable\" reads as \"may be NULL\"", f.name));
        }
    }
    assert!(problems.is_empty(), "{} doc problems in include/marline.h:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_doc_rule_reads_declarations_and_sentences() {
    let header = "// Writes. Errors: MARLINE_ERR_CLOSED. `t` must not be NULL; `data` may be NULL only when `len` is 0.\nenum marline_status_t transport_write(struct transport_t *t, const uint8_t *data, size_t len);\n";
    let f = &functions(header)[0];
    assert_eq!((f.name.as_str(), f.returns.as_str()), ("transport_write", "enum marline_status_t"));
    let params: Vec<(&str, &str)> = f.params.iter().map(|(t, n)| (t.as_str(), n.as_str())).collect();
    assert_eq!(params, [("struct transport_t *", "t"), ("const uint8_t *", "data"), ("size_t", "len")]);
    assert!(null_rule(&f.doc, "t") && null_rule(&f.doc, "data"));
    assert!(!null_rule("`out` is NULL or writable.", "out"));
    assert!(!null_rule("`t` must be valid. The out pointer must not be NULL.", "t"));
}
