//! Every outside program that a test, script, example, benchmark or Makefile
//! recipe starts is installed by scripts/install-deps.sh (its `programs`
//! table) or is on the short base list below: a bare Debian machine with the
//! Rust toolchain from rustup gets everything else from the project itself
//! (issue 14). A program that is truly optional is on OPTIONAL, with the
//! place that skips it when it is missing.
//!
//! The scan is textual. It reads the Rust, C, C++ and Python files, the shell
//! scripts and the Makefile recipes, and takes as a program started:
//! - in Rust, C and Python: an absolute `/bin/NAME`-style string; the string
//!   given to `Command::new(`, `ProcessSpec::new(`, `which(`, `Type::spawn(`, a `spawn…(x, `
//!   call, or the alternatives of `require_tool(&[…])`; the string after a
//!   `"--"` (the command an example server runs); in Python the first string
//!   of a list passed straight to a call (`run(["make", …])`) or returned;
//! - shell code: in script files, Makefile recipes (with the Makefile's
//!   variables and make's defaults expanded), `$(shell …)`, and strings run
//!   by `sh -c` or by a test's `sh(…)` helper: the first word of every
//!   command, and the command a wrapper runs (`taskset -c 1 strace …`).
//!
//! `the_scan_recognises_each_form` checks each of these forms. The scan
//! cannot see a name built at run time; scripts/bare-machine-test.sh, which
//! runs `make test` on a real bare machine, is the check behind this one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Programs of a bare machine: Debian's required packages (what
/// `debootstrap --variant=minbase` installs), the Rust toolchain (rustup),
/// and git, which brought the source. Each with its package.
const BASE: &[(&str, &str)] = &[
    ("apt-get", "apt"),
    ("awk", "mawk"),
    ("bash", "bash"),
    ("cargo", "rustup"),
    ("cat", "coreutils"),
    ("chmod", "coreutils"),
    ("chroot", "coreutils"),
    ("cmp", "diffutils"),
    ("cp", "coreutils"),
    ("dirname", "coreutils"),
    ("env", "coreutils"),
    ("git", "git (how the source arrived)"),
    ("grep", "grep"),
    ("head", "coreutils"),
    ("id", "coreutils"),
    ("install", "coreutils"),
    ("ldconfig", "libc-bin"),
    ("ln", "coreutils"),
    ("ls", "coreutils"),
    ("mkdir", "coreutils"),
    ("mktemp", "coreutils"),
    ("mount", "mount"),
    ("mv", "coreutils"),
    ("pwd", "coreutils"),
    ("readlink", "coreutils"),
    ("rm", "coreutils"),
    ("rustc", "rustup"),
    ("sed", "sed"),
    ("seq", "coreutils"),
    ("sh", "dash"),
    ("sleep", "coreutils"),
    ("sort", "coreutils"),
    ("stat", "coreutils"),
    ("stty", "coreutils"),
    ("tar", "tar"),
    ("taskset", "util-linux"),
    ("tee", "coreutils"),
    ("true", "coreutils"),
    ("unshare", "util-linux"),
    ("wc", "coreutils"),
    ("yes", "coreutils"),
];

/// Programs a test or script uses only when they are there, saying so otherwise.
const OPTIONAL: &[(&str, &str)] =
    &[("gnuplot", "bench/run.py draws the chart only when gnuplot is installed, and says so otherwise")];

/// The prefix of a name a test starts because it is missing (to see the failure).
const MISSING_ON_PURPOSE: &str = "no-such-";

/// Shell builtins (bash and dash): no program is started for them.
const BUILTINS: &[&str] = &[
    ".", ":", "[", "[[", "alias", "break", "cd", "command", "continue", "declare", "echo", "eval", "exit",
    "export", "false", "getopts", "kill", "local", "mapfile", "printf", "read", "readonly", "return", "set",
    "shift", "source", "test", "trap", "type", "ulimit", "umask", "unset", "wait",
];

/// The shell's own words that run the next word as a program.
const SHELL_WRAPPERS: &[&str] = &["exec", "time"];

/// Words that run the next word as a program: (wrapper, how many plain words
/// it takes before the program).
const WRAPPERS: &[(&str, usize)] = &[
    ("exec", 0),
    ("env", 0),
    ("nohup", 0),
    ("setsid", 0),
    ("time", 0),
    ("strace", 0),
    ("valgrind", 0),
    ("xargs", 0),
    ("unshare", 0),
    ("taskset", 1),
    ("timeout", 1),
    ("chroot", 1),
];

/// Where a program was seen: "file:line".
type Found = BTreeMap<Vec<String>, BTreeSet<String>>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- strings

/// A string literal: its text (escapes left as written) and where it starts.
struct Lit {
    value: String,
    start: usize,
    end: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Rust,
    C,
    Python,
}

/// The string literals of a source file, outside comments.
fn literals(src: &str, lang: Lang) -> Vec<Lit> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if (lang != Lang::Python && rest.starts_with("//")) || (lang == Lang::Python && b[i] == b'#') {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if lang != Lang::Python && rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if lang == Lang::Rust && (rest.starts_with("r\"") || rest.starts_with("r#")) && !ident_before(b, i) {
            let hashes = rest[1..].bytes().take_while(|&c| c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            let end = src[body..].find(&close).map_or(src.len(), |e| body + e);
            out.push(Lit { value: src[body..end].to_string(), start: i, end: end + close.len() });
            i = end + close.len();
        } else if b[i] == b'"' || (b[i] == b'\'' && lang == Lang::Python) {
            let q = b[i];
            let triple = lang == Lang::Python && rest.len() >= 3 && rest.as_bytes()[1] == q && rest.as_bytes()[2] == q;
            let open = if triple { 3 } else { 1 };
            let mut j = i + open;
            while j < b.len() {
                if b[j] == b'\\' {
                    j += 2;
                } else if b[j] == q && (!triple || src[j..].starts_with(&src[i..i + 3])) {
                    break;
                } else {
                    j += 1;
                }
            }
            let j = j.min(b.len());
            out.push(Lit { value: src[i + open..j].to_string(), start: i, end: (j + open).min(b.len()) });
            i = j + open;
        } else if b[i] == b'\'' && lang != Lang::Python {
            // A char literal ('x', '\n'); in Rust also a lifetime ('a), skipped as one character.
            let skip = if rest.len() > 3 && b[i + 1] == b'\\' { rest[2..].find('\'').map_or(1, |e| e + 3) } else { 1 };
            i += if rest.len() > 2 && b[i + 2] == b'\'' { 3 } else { skip };
        } else {
            i += rest.chars().next().unwrap().len_utf8();
        }
    }
    out
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// A plain program name: what a candidate must look like to count.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.+-".contains(&c))
        && s.as_bytes()[0].is_ascii_alphabetic()
}

/// NAME of `/bin/NAME`, `/usr/bin/NAME`, `/sbin/NAME`, `/usr/sbin/NAME`, or
/// NAME itself when it is a plain name.
fn program_name(s: &str) -> Option<String> {
    let s = ["/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"].iter().find_map(|d| s.strip_prefix(d)).unwrap_or(s);
    is_name(s).then(|| s.to_string())
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at].matches('\n').count() + 1
}

/// Programs a Rust, C or Python source starts (see the module docs).
fn scan_source(src: &str, lang: Lang, file: &str, found: &mut Found) {
    let lits = literals(src, lang);
    let mut add = |names: Vec<String>, at: usize| {
        if !names.is_empty() {
            found.entry(names).or_default().insert(format!("{file}:{}", line_of(src, at)));
        }
    };
    for (k, lit) in lits.iter().enumerate() {
        let before = src[..lit.start].trim_end();
        let prev = |n: usize| k.checked_sub(n).map(|j| lits[j].value.as_str());
        // Only a comma between this string and the one before it.
        let listed_after = |j: usize| src[lits[j].end..lits[j + 1].start].trim() == ",";
        let bin_path = ["/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"].iter().any(|d| lit.value.starts_with(d));
        let starts = bin_path
            || ["Command::new(", "ProcessSpec::new(", "which(", "::spawn("].iter().any(|c| before.ends_with(c))
            || spawn_call(before)
            || prev(1) == Some("--") && listed_after(k - 1)
            || lang == Lang::Python && python_command(before, lits.get(k + 1).filter(|_| listed_after(k)));
        if starts {
            add(program_name(&lit.value).into_iter().collect(), lit.start);
        }
        if before.ends_with("require_tool(&[") {
            let count = 1 + (k..lits.len() - 1).take_while(|&j| listed_after(j)).count();
            add(lits[k..k + count].iter().filter_map(|l| program_name(&l.value)).collect(), lit.start);
        }
        let shell_c = prev(1) == Some("-c")
            && listed_after(k - 1)
            && prev(2).is_some_and(|p| matches!(p, "sh" | "bash" | "/bin/sh" | "/bin/bash"));
        let sh_helper = ["sh(", "sh(format!(", "sh(&format!("].iter().any(|h| before.ends_with(h))
            && !ident_before(before.as_bytes(), before.rfind("sh(").unwrap());
        if shell_c || sh_helper {
            let script = lit.value.replace("\\\"", "\"").replace("\\n", "\n").replace("\\\\", "\\");
            for (names, _) in shell_programs(&script) {
                add(names, lit.start);
            }
        }
    }
}

/// Whether a Python list opened just before a string is a command: passed to
/// subprocess's `run`, `Popen`, `call`, `check_call` or `check_output`, or
/// with an option as its next element (`["taskset", "-c", cpus]`).
fn python_command(before: &str, next: Option<&Lit>) -> bool {
    let Some(call) = before.strip_suffix('[') else { return false };
    let call = call.trim_end();
    ["run(", "Popen(", "call(", "check_call(", "check_output("].iter().any(|c| call.ends_with(c) && !ident_before(call.as_bytes(), call.len() - c.len()))
        || next.is_some_and(|n| n.value.starts_with('-'))
}

/// Whether `before` ends inside a call like `reactor_spawn_process(reactor, ` or
/// `spawn_process(p, `: the next string is the program.
fn spawn_call(before: &str) -> bool {
    let Some(open) = before.rfind('(') else { return false };
    let name = before[..open].rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("");
    let args = &before[open + 1..];
    name.contains("spawn") && args.ends_with(',') && args.matches(',').count() == 1
}

// ---------------------------------------------------------------- shell

/// The programs shell code starts, each with its line (1-based).
fn shell_programs(script: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let functions: BTreeSet<String> = script
        .lines()
        .filter_map(|l| l.trim().split_once("()").map(|(n, _)| n.trim().to_string()))
        .filter(|n| is_name(n))
        .collect();
    for (line_no, words) in shell_commands(script) {
        let mut words = words.iter().map(String::as_str).peekable();
        // Variable assignments before the command.
        while words.peek().is_some_and(|w| w.contains('=') && is_name(w.split('=').next().unwrap())) {
            words.next();
        }
        // The program, and after a wrapper (and its options, plain words and values
        // from variables) the one it runs.
        let mut positional_left = 0usize;
        let mut after_wrapper = false;
        while let Some(w) = words.next() {
            if w.starts_with('-') || w.contains('=') {
                continue;
            }
            if positional_left > 0 {
                positional_left -= 1;
                continue;
            }
            if after_wrapper && w.contains('$') {
                continue;
            }
            // A program named by a variable is scanned where the variable is set;
            // builtins and the script's own functions start no program.
            let Some(name) = program_name(w).filter(|n| !w.contains('$') && !BUILTINS.contains(&n.as_str()) && !functions.contains(n))
            else {
                break;
            };
            if !SHELL_WRAPPERS.contains(&name.as_str()) {
                out.push((vec![name.clone()], line_no));
            }
            if name == "sh" || name == "bash" {
                // `sh -c SCRIPT` / `bash -euc SCRIPT`: the script is shell too.
                let rest: Vec<&str> = words.by_ref().collect();
                if let Some(i) = rest.iter().position(|a| a.starts_with('-') && !a.starts_with("--") && a.ends_with('c')) {
                    if let Some(script) = rest.get(i + 1) {
                        out.extend(shell_programs(script).into_iter().map(|(n, l)| (n, line_no + l - 1)));
                    }
                }
                break;
            }
            match WRAPPERS.iter().find(|(n, _)| *n == name) {
                Some((_, positional)) => (positional_left, after_wrapper) = (*positional, true),
                None => break,
            }
        }
    }
    out
}

/// Splits shell code into simple commands (unquoted words, with their line):
/// at `;`, `|`, `&`, newlines, parentheses, braces, `$(`, and shell keywords.
/// Quotes are removed; a double-quoted `$(…)` still starts a command. Here-doc
/// bodies and `case` patterns are skipped.
fn shell_commands(script: &str) -> Vec<(usize, Vec<String>)> {
    let chars: Vec<char> = script.replace("\\\n", " ").chars().collect();
    let mut s = Splitter::default();
    let mut heredoc: Option<String> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if let Some(tag) = &heredoc {
            let end = script_pos(&chars, i, "\n");
            if chars[i..end].iter().collect::<String>().trim() == tag {
                heredoc = None;
            }
            s.line += 1;
            i = end + 1;
            continue;
        }
        match c {
            '\n' => {
                let before = s.commands.len();
                s.end_command();
                s.line += 1;
                heredoc = s.commands[before..].last().and_then(|(_, ws)| heredoc_tag(ws));
            }
            '#' if s.word.is_none() => i = script_pos(&chars, i, "\n") - 1,
            ' ' | '\t' => s.end_word(),
            '(' if s.word.as_ref().is_some_and(|w| w.ends_with('=')) => {
                // an array assignment, x=(a b) or x+=(c): a word, no command
                let end = script_pos(&chars, i, ")");
                s.push_str(&chars[i..end].iter().collect::<String>());
                i = end;
            }
            '&' if next == Some('>') || i > 0 && matches!(chars[i - 1], '>' | '<') => s.push_str("&"), // &>f, 2>&1, <&3
            ')' if s.case_pattern => {
                s.case_pattern = false;
                s.words.clear();
                s.word = None;
            }
            ';' if next == Some(';') => {
                s.end_command();
                s.case_pattern = true;
                i += 1;
            }
            '{' | '}' if s.word.is_some() => s.push_str(&c.to_string()),
            ';' | '|' | '&' | '(' | ')' | '{' | '}' | '`' => s.end_command(),
            '$' if next == Some('(') && chars.get(i + 2) == Some(&'(') => {
                // $((arithmetic)): a word; only a $(command) inside it runs
                let end = paren_end(&chars, i + 1);
                s.substitutions(&chars[i + 3..end]);
                s.push_str("$");
                i = end;
            }
            '$' if next == Some('(') => {
                s.end_command();
                i += 1;
            }
            '\'' => {
                let close = script_pos(&chars, i + 1, "'");
                let inner: String = chars[i + 1..close].iter().collect();
                s.push_str(&inner);
                s.line += inner.matches('\n').count();
                i = close;
            }
            '"' => {
                // "…$(cmd …)…": each command inside runs; the word is then a value.
                let close = dquote_end(&chars, i + 1);
                let inner: String = chars[i + 1..close].iter().collect();
                if s.substitutions(&chars[i + 1..close]) {
                    s.push_str("$");
                } else {
                    s.push_str(&inner);
                }
                s.line += inner.matches('\n').count();
                i = close;
            }
            '\\' => {
                s.push_str(&next.map(String::from).unwrap_or_default());
                i += 1;
            }
            _ => s.push_str(&c.to_string()),
        }
        i += 1;
    }
    s.end_command();
    s.commands
}

/// The state of `shell_commands`: the commands so far, the one being read.
#[derive(Default)]
struct Splitter {
    commands: Vec<(usize, Vec<String>)>,
    words: Vec<String>,
    word: Option<String>,
    line: usize,
    /// Between `case … in` or `;;` and the pattern's `)`.
    case_pattern: bool,
}

impl Splitter {
    /// Adds the commands of each `$(…)` in `text` (also inside `$((…))`); whether any.
    fn substitutions(&mut self, text: &[char]) -> bool {
        let mut found = false;
        let mut j = 0;
        while j + 1 < text.len() {
            if text[j] == '$' && text[j + 1] == '(' {
                let end = paren_end(text, j + 1);
                if text.get(j + 2) == Some(&'(') {
                    found |= self.substitutions(&text[j + 3..end.min(text.len())]);
                } else {
                    let cmd: String = text[j + 2..end.min(text.len())].iter().collect();
                    self.commands.extend(shell_commands(&cmd).into_iter().map(|(l, ws)| (self.line + l - 1, ws)));
                    found = true;
                }
                j = end;
            }
            j += 1;
        }
        found
    }

    fn push_str(&mut self, s: &str) {
        self.word.get_or_insert_with(String::new).push_str(s);
    }

    fn end_word(&mut self) {
        self.words.extend(self.word.take());
    }

    fn end_command(&mut self) {
        self.end_word();
        let mut ws = std::mem::take(&mut self.words);
        // Keywords that introduce a command.
        while ws.first().is_some_and(|w| matches!(w.as_str(), "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!")) {
            ws.remove(0);
        }
        match ws.first().map(String::as_str) {
            Some("case") => self.case_pattern = true,
            Some("esac") => self.case_pattern = false,
            // a loop header, an ending, or a function's header: no program
            Some("for" | "fi" | "done" | "in") => {}
            Some(w) if w.ends_with("()") => {}
            Some(_) if !self.case_pattern => self.commands.push((self.line + 1, ws)),
            _ => {}
        }
    }
}

/// Where the parenthesis at `open` closes, past nested parentheses and quotes (or the end).
fn paren_end(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    let mut j = open;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '\'' => j = script_pos(chars, j + 1, "'"),
            '"' => j = dquote_end(chars, j + 1),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
        j += 1;
    }
    chars.len()
}

/// Where a double-quoted string whose text starts at `from` ends, past `$(…)` with
/// quotes of its own (or the end).
fn dquote_end(chars: &[char], from: usize) -> usize {
    let mut j = from;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '"' => return j,
            '$' if chars.get(j + 1) == Some(&'(') => j = paren_end(chars, j + 1),
            _ => {}
        }
        j += 1;
    }
    chars.len()
}

/// Where `pat` next occurs in `chars` from `from` (or the end).
fn script_pos(chars: &[char], from: usize, pat: &str) -> usize {
    let pat: Vec<char> = pat.chars().collect();
    (from..chars.len()).find(|&j| chars[j..].starts_with(&pat)).unwrap_or(chars.len())
}

/// The terminator of a here-document a command opens (`<<EOF`, `<<'EOF'`, `<<-EOF`).
fn heredoc_tag(words: &[String]) -> Option<String> {
    let w = words.iter().find(|w| w.starts_with("<<") && !w.starts_with("<<<"))?;
    let tag = w.trim_start_matches("<<").trim_start_matches('-');
    let tag = if tag.is_empty() { words.iter().skip_while(|x| *x != w).nth(1)?.as_str() } else { tag };
    Some(tag.to_string()).filter(|t| is_name(t))
}

// ---------------------------------------------------------------- Makefile

/// make's defaults for the variables a recipe may use without setting them.
const MAKE_DEFAULTS: &[(&str, &str)] = &[("CC", "cc"), ("CXX", "g++"), ("MAKE", "make")];

/// The programs the Makefile's recipes and `$(shell …)` calls start.
fn scan_makefile(text: &str, file: &str, found: &mut Found) {
    let text = text.replace("\\\n", " ");
    let mut vars: BTreeMap<String, String> = MAKE_DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for l in text.lines().filter(|l| !l.starts_with('\t')) {
        let Some((op, (name, value))) = ["?=", ":=", "="].iter().find_map(|op| Some((*op, l.split_once(op)?))) else { continue };
        let name = name.trim();
        // `?=` keeps what is set already (make's own CC stays `cc`).
        if is_name(name) && !(op == "?=" && vars.contains_key(name)) {
            vars.insert(name.to_string(), value.trim().to_string());
        }
    }
    // The Makefile's variables expanded; `$$` is the shell's `$`.
    let expand = |s: &str| -> String {
        let mut s = s.replace("$$", "\u{0}");
        for _ in 0..8 {
            for (k, v) in &vars {
                s = s.replace(&format!("$({k})"), v).replace(&format!("${{{k}}}"), v);
            }
        }
        s
    };
    // What is left of make's `$(…)` (functions, unset variables) becomes a
    // shell variable: it names no program the scan can see.
    let to_shell = |s: &str| -> String {
        let mut s = s.to_string();
        while let Some(at) = s.find("$(") {
            let end = at + 2 + matching_paren(&s[at + 2..]);
            s.replace_range(at..(end + 1).min(s.len()), "$M");
        }
        s.replace('\u{0}', "$")
    };
    let mut add = |names: Vec<String>, line: usize| {
        found.entry(names).or_default().insert(format!("{file}:{line}"));
    };
    for (n, l) in text.lines().enumerate() {
        let expanded = expand(l);
        let mut shell_code: Vec<String> = Vec::new();
        let mut rest = expanded.as_str();
        while let Some(at) = rest.find("$(shell ") {
            let inner = &rest[at + 8..];
            let end = matching_paren(inner);
            shell_code.push(to_shell(&inner[..end]));
            rest = &inner[end..];
        }
        if let Some(recipe) = expanded.strip_prefix('\t') {
            shell_code.push(to_shell(recipe.trim_start_matches(['@', '-', '+'])));
        }
        for code in shell_code {
            for (names, _) in shell_programs(&code) {
                add(names, n + 1);
            }
        }
    }
}

/// Where the parenthesis opened just before `s` closes (a byte offset in `s`).
fn matching_paren(s: &str) -> usize {
    let chars: Vec<char> = std::iter::once('(').chain(s.chars()).collect();
    let end = paren_end(&chars, 0);
    s.char_indices().nth(end.saturating_sub(1)).map_or(s.len(), |(i, _)| i)
}

// ---------------------------------------------------------------- the tree

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy();
        if p.is_dir() {
            if !matches!(name.as_ref(), "target" | "results" | "corpus" | ".git" | "__pycache__") {
                files(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Every program the tree starts, with where.
fn scan_tree() -> Found {
    let mut found = Found::new();
    let mut all = Vec::new();
    for d in ["tests", "bench", "scripts", "bindings", "examples-c", "examples-cpp", ".ci", "fuzz"] {
        files(&root().join(d), &mut all);
    }
    all.push(root().join("build.rs"));
    all.sort();
    for p in &all {
        let file = p.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        if file == "tests/outside_programs.rs" {
            continue; // this file's fixtures name programs on purpose
        }
        let Ok(text) = std::fs::read_to_string(p) else { continue };
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "rs" => scan_source(&text, Lang::Rust, &file, &mut found),
            "c" | "h" | "cpp" | "hpp" => scan_source(&text, Lang::C, &file, &mut found),
            "py" => scan_source(&text, Lang::Python, &file, &mut found),
            _ if ext == "sh" || text.starts_with("#!") && text.lines().next().unwrap().contains("sh") => {
                for (names, line) in shell_programs(&text) {
                    found.entry(names).or_default().insert(format!("{file}:{line}"));
                }
            }
            _ => {}
        }
    }
    scan_makefile(&std::fs::read_to_string(root().join("Makefile")).unwrap(), "Makefile", &mut found);
    found
}

/// scripts/install-deps.sh's `programs` table: program → Debian package.
fn installed_by_script() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("scripts/install-deps.sh")).unwrap();
    let table = text.split_once("programs='").expect("install-deps.sh has a programs='…' table").1;
    let table = table.split_once('\'').unwrap().0;
    table
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next().expect("each program has its package").to_string()))
        })
        .collect()
}

#[test]
fn every_outside_program_is_installed_by_install_deps_or_on_the_base_list() {
    let installed = installed_by_script();
    let known = |n: &String| {
        installed.contains_key(n) || BASE.iter().chain(OPTIONAL).any(|(b, _)| b == n) || n.starts_with(MISSING_ON_PURPOSE)
    };
    let found = scan_tree();
    let missing: Vec<String> = found
        .iter()
        .filter(|(names, _)| !names.iter().any(known))
        .map(|(names, at)| format!("{} (started at {})", names.join(" or "), at.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "programs that a bare machine does not have and scripts/install-deps.sh does not install:\n  {}\n\
         Add each to install-deps.sh's programs table with its Debian package (or, if Debian's \
         required packages have it, to BASE in tests/outside_programs.rs).",
        missing.join("\n  ")
    );
    // The tables say no more than the tree uses, so they stay a true list.
    let used: BTreeSet<&String> = found.keys().flatten().collect();
    let unused: Vec<&String> = installed.keys().filter(|n| !used.contains(n)).collect();
    assert!(unused.is_empty(), "install-deps.sh installs programs that nothing starts: {unused:?}");
    let unused_base: Vec<&str> = BASE.iter().map(|(b, _)| *b).filter(|b| !used.iter().any(|u| u == b)).collect();
    assert!(unused_base.is_empty(), "BASE lists programs that nothing starts: {unused_base:?}");
    println!("{} outside programs, each installed or on the base list: {:?}", found.len(), found.keys().collect::<Vec<_>>());
}

#[test]
fn the_scan_recognises_each_form() {
    let names = |f: &Found| f.keys().map(|k| k.join("|")).collect::<Vec<_>>();
    let mut f = Found::new();
    scan_source(
        r##"
        // Command::new("strace") is not code
        let a = Command::new("expect").arg("x");
        let peer = Peer::spawn("gnutls-cli", &["-p", "1"]);
        let b = cbuild::require_tool(&["inetutils-telnet", "telnet"], "inetutils-telnet");
        let c = ProcessSpec::new("/usr/bin/xz", ["xz"]);
        let d = ProcessSpec::new("/bin/sh", ["sh", "-c", "head -c 10 | exec gzip; foo=1 bzip2 -d"]);
        let d2 = spawn(&ProcessSpec::new("/bin/sh", ["sh", "-c", script]), "not a script");
        let e = sh("ulimit -c 0; kill -SEGV $$; timeout 5 lzma");
        let g = sh(&format!("zstd {x}"));
        let h = Command::new(&server).args(["--bind", "0", "--", "rev"]);
        let i = Command::new("python3").args(["-c", "import os"]);
        let j = r#"/sbin/mkfs"#;
        "##,
        Lang::Rust,
        "t.rs",
        &mut f,
    );
    assert_eq!(
        names(&f),
        ["bzip2", "expect", "gnutls-cli", "gzip", "head", "inetutils-telnet|telnet", "lzma", "mkfs", "python3", "rev", "sh", "timeout", "xz", "zstd"]
    );

    let mut f = Found::new();
    scan_source(
        r#"s = reactor_spawn_process(r, "cat", argv); const char *v[] = {"sh", "-c", "printf 'a\n' | tac", NULL}; /* "/bin/no" */"#,
        Lang::C,
        "t.c",
        &mut f,
    );
    assert_eq!(names(&f), ["cat", "tac"]);

    let mut f = Found::new();
    scan_source(
        "# subprocess.run([\"no\"])\nrun([\"make\", \"-s\"])\nout = subprocess.run(['gnuplot'], input=x)\n\
         def pinned(c, argv):\n    return [\"taskset\", \"-c\", c] + argv\nshutil.which(\"dot\")\n\
         rows = [\"marline\", \"libuv\"]\nf(x, [\"not\", \"a program\"])\nmarkdown([\"workload\", \"unit\"])\nrerun([\"no\"])\nr.spawn_process(p, \"/bin/sh\", [\"sh\", \"-c\", 'od -c'])\n",
        Lang::Python,
        "t.py",
        &mut f,
    );
    assert_eq!(names(&f), ["dot", "gnuplot", "make", "od", "sh", "taskset"]);

    let script = "#!/usr/bin/env bash\nhave() { command -v \"$1\"; }\nhave cc || x+=(gcc)\n\
        for f in a b; do cat \"$f\"; done\nport=$(sed -n p f)\nout=\"$(dirname \"$0\")\"\n\
        case \"$t\" in test | demo) ;; *) echo no; exit 2 ;; esac\n\
        taskset -c 1 strace -c -o \"$o\" \"$srv\" 0 &\nvalgrind --tool=callgrind \"$s\" | grep x\n\
        cat <<'EOF'\nnotacommand here\nEOF\n\nunshare --mount -- bash -euc 'mount -t proc p /p; chroot \"$r\" /bin/dash -c \"$@\"'\n\
        \"$bin/echo_server\" 0 > out & scripts/demo.sh # comment: ignored words\nX=1 Y=2 make -C d\n\
        n=$((a / b)); echo \"$((n + 1))\" 2>&1 >&2\nk=$(( ($(wc -c f) + 1) / 2 ))\n\
        kb() { echo \"$(( ($(stat -L -c %s \"$1\") + 512) / 1024 )) KB\"; }\nx=\"$(uname -r \"$(hostname)\")\"\nexec nice -n 5 true\nenv -i $vars rev\n\"$prog\" not-this\n";
    let got: BTreeSet<String> = shell_programs(script).into_iter().flat_map(|(n, _)| n).collect();
    let want = [
        "bash", "cat", "chroot", "dash", "dirname", "env", "grep", "make", "mount", "nice", "rev", "sed", "strace", "taskset", "unshare",
        "hostname", "stat", "uname", "valgrind", "wc",
    ];
    assert_eq!(got, want.iter().map(|s| s.to_string()).collect());

    let mut f = Found::new();
    scan_makefile(
        "CARGO ?= cargo\nCC ?= gcc\nD := $(or $(T),t)/r\nV := $(shell awk -F x f)\nall:\n\t$(CARGO) build\n\t@$(CC) -o x x.c\n\t-$(CXX) y.cpp\n\
         \tMARLINE=1 objdump -d $$f $(D)\n\t$(DESTDIR)/bin/x; [ -z \"$(DESTDIR)\" ] && echo $$(nm y)\n",
        "Makefile",
        &mut f,
    );
    assert_eq!(names(&f), ["awk", "cargo", "cc", "g++", "nm", "objdump"]);
}
