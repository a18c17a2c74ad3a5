//! Payload formats of the subnegotiations the telnet transport understands itself: NAWS
//! (RFC 1073), TERMINAL-TYPE (RFC 1091) and NEW-ENVIRON (RFC 1572). Pure functions, no I/O.

/// TTYPE / NEW-ENVIRON "IS" (the answer).
pub const IS: u8 = 0;
/// TTYPE / NEW-ENVIRON "SEND" (the question).
pub const SEND: u8 = 1;
/// NEW-ENVIRON "INFO" (an unsolicited update).
pub const INFO: u8 = 2;

/// NEW-ENVIRON list codes.
pub mod env {
    /// A well-known variable follows.
    pub const VAR: u8 = 0;
    /// Its value follows.
    pub const VALUE: u8 = 1;
    /// The next byte is literal.
    pub const ESC: u8 = 2;
    /// A user variable follows.
    pub const USERVAR: u8 = 3;
}

/// Whether a NEW-ENVIRON list answers a SEND (IS) or is an unsolicited update (INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvKind {
    /// SB NEW-ENVIRON IS …
    Is,
    /// SB NEW-ENVIRON INFO …
    Info,
}

/// The two kinds of NEW-ENVIRON variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvVarKind {
    /// A well-known variable (USER, DISPLAY, …).
    Var,
    /// A user-defined variable.
    UserVar,
}

/// One NEW-ENVIRON variable: its name and, unless the peer said it has none, its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvVar {
    /// VAR or USERVAR.
    pub kind: EnvVarKind,
    /// The name, unescaped.
    pub name: Vec<u8>,
    /// The value, unescaped; `None` when the variable is undefined (no VALUE code).
    pub value: Option<Vec<u8>>,
}

/// NAWS payload (4 bytes, after IAC IAC unescaping) → (width, height).
pub fn parse_naws(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [w0, w1, h0, h1] => Some((u16::from_be_bytes([*w0, *w1]), u16::from_be_bytes([*h0, *h1]))),
        _ => None,
    }
}

/// The NAWS payload for a window size (before IAC escaping, which
/// [`super::codec::encode_subnegotiation`] applies).
pub fn naws_payload(width: u16, height: u16) -> [u8; 4] {
    let w = width.to_be_bytes();
    let h = height.to_be_bytes();
    [w[0], w[1], h[0], h[1]]
}

/// TTYPE "IS name" payload → name.
pub fn parse_terminal_type(payload: &[u8]) -> Option<&[u8]> {
    match payload.split_first() {
        Some((&IS, name)) => Some(name),
        _ => None,
    }
}

/// NEW-ENVIRON "IS …" or "INFO …" → its kind and variables. `None` for SEND or a payload
/// that does not start with a variable code.
pub fn parse_environment(payload: &[u8]) -> Option<(EnvKind, Vec<EnvVar>)> {
    let (kind, mut rest) = match payload.split_first()? {
        (&IS, rest) => (EnvKind::Is, rest),
        (&INFO, rest) => (EnvKind::Info, rest),
        _ => return None,
    };
    let mut vars = Vec::new();
    while let Some((&code, after)) = rest.split_first() {
        let kind = match code {
            env::VAR => EnvVarKind::Var,
            env::USERVAR => EnvVarKind::UserVar,
            _ => return None,
        };
        let (name, stop, after) = take_escaped(after);
        rest = after;
        let value = if stop == Some(env::VALUE) {
            let (value, _, after) = take_escaped(rest);
            rest = after;
            Some(value)
        } else {
            None
        };
        vars.push(EnvVar { kind, name, value });
    }
    Some((kind, vars))
}

/// Reads bytes up to the next unescaped list code. Returns the bytes, the code that ended
/// them (`None` at the end) and the rest after that code (VAR/USERVAR are left in place).
fn take_escaped(mut s: &[u8]) -> (Vec<u8>, Option<u8>, &[u8]) {
    let mut out = Vec::new();
    while let Some((&b, rest)) = s.split_first() {
        match b {
            env::ESC => {
                if let Some((&lit, rest)) = rest.split_first() {
                    out.push(lit);
                    s = rest;
                } else {
                    s = rest;
                }
            }
            env::VALUE => return (out, Some(b), rest),
            env::VAR | env::USERVAR => return (out, Some(b), s),
            _ => {
                out.push(b);
                s = rest;
            }
        }
    }
    (out, None, s)
}

/// The NEW-ENVIRON payload for `vars` (before IAC escaping).
pub fn environment_payload(kind: EnvKind, vars: &[EnvVar]) -> Vec<u8> {
    let mut out = vec![match kind {
        EnvKind::Is => IS,
        EnvKind::Info => INFO,
    }];
    let escape = |bytes: &[u8], out: &mut Vec<u8>| {
        for &b in bytes {
            if b <= env::USERVAR {
                out.push(env::ESC);
            }
            out.push(b);
        }
    };
    for v in vars {
        out.push(match v.kind {
            EnvVarKind::Var => env::VAR,
            EnvVarKind::UserVar => env::USERVAR,
        });
        escape(&v.name, &mut out);
        if let Some(value) = &v.value {
            out.push(env::VALUE);
            escape(value, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naws_round_trip() {
        assert_eq!(parse_naws(&naws_payload(80, 24)), Some((80, 24)));
        assert_eq!(parse_naws(&naws_payload(0xFFFF, 0x100)), Some((0xFFFF, 0x100)));
        assert_eq!(parse_naws(&[0, 80, 0]), None);
    }

    #[test]
    fn environment_round_trip_with_escapes() {
        let vars = vec![
            EnvVar { kind: EnvVarKind::Var, name: b"USER".to_vec(), value: Some(b"ann".to_vec()) },
            EnvVar { kind: EnvVarKind::UserVar, name: vec![b'X', 0, 1, 2, 3], value: Some(vec![]) },
            EnvVar { kind: EnvVarKind::Var, name: b"DISPLAY".to_vec(), value: None },
        ];
        let p = environment_payload(EnvKind::Info, &vars);
        assert_eq!(parse_environment(&p), Some((EnvKind::Info, vars)));
        assert_eq!(parse_environment(&[SEND]), None);
        assert_eq!(parse_environment(&[IS, 9]), None);
        assert_eq!(parse_environment(&[IS]), Some((EnvKind::Is, vec![])));
    }

    #[test]
    fn terminal_type() {
        assert_eq!(parse_terminal_type(b"\0XTERM"), Some(&b"XTERM"[..]));
        assert_eq!(parse_terminal_type(&[SEND]), None);
    }
}
