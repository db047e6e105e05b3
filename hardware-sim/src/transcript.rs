//! Conformance transcripts: declarative files of APDUs and the answers the contract requires,
//! and a runner that replays them against any card (the in-process [`SoftCard`], or a card
//! behind `pcscd`).
//!
//! # Format
//!
//! One directive per line; blank lines and lines starting with `#` are ignored.
//!
//! ```text
//! card: personalised pin=Tanuki42 puk=Kitsune12345   # the fixture, first directive, once
//! > 00 A4 04 00 [$AID] 00                             # a command APDU
//! < 6F{84{$AID} $CERT} 9000                           # the response it must get
//! > 00 20 00 81 [ 'Wrong999' ]
//! < 63C2
//! reset                                               # warm reset
//! power-cycle                                         # power off, then on
//! atr: 3B 88 80 01 "cardgate" ?1                      # the card's ATR must match
//! ```
//!
//! Fixtures: `card: blank puk=PUK` (a factory-fresh card), or
//! `card: personalised pin=PIN puk=PUK [operator=ID] [role=operator|manager]` (a card issued
//! through the real issuance flow). Every script starts with the fixture card just powered
//! on, no application selected.
//!
//! Every `>` line must be followed by a `<` line. Both are byte expressions made of:
//!
//! | item | bytes |
//! | --- | --- |
//! | `00A4 04 00` | hex; spaces are ignored, each run has an even number of digits |
//! | `'Tanuki42'` | a secret in wire form: the ASCII characters, right-padded with `FF` to 16 bytes |
//! | `"cardgate"` | ASCII bytes as written |
//! | `$AID` | the application identifier (10 bytes) |
//! | `$CERT` | the fixture card's `7F21` certificate TLV, as issued |
//! | `7F49{ … }` | a BER-TLV object: the hex tag, then the minimal length of the contents, then the contents |
//! | `[ … ]` | one length byte (Lc), then the contents |
//!
//! and, in responses (`<` and `atr:`) only:
//!
//! | item | matches |
//! | --- | --- |
//! | `?64` | exactly 64 bytes of any value (inside `{}` and `[]` too) |
//! | `*` | any number of bytes, including none (not inside `{}` or `[]`) |
//!
//! A response pattern covers the whole response, status word included: `< 9000` means "no
//! data, `9000`"; `< * 9000` means "any data, `9000`".

use crate::card::SoftCard;
use crate::image::CardImage;
use crate::{create_card, CreateCardError};
use cardgate_card::cert::{CardSerial, Role};
use cardgate_card::commands::AID;
use cardgate_card::issue::IssueRequest;
use cardgate_card::secret::SECRET_WIRE_LEN;
use cardgate_card::{IssuerKey, Pin, Puk};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Most `*` wildcards in one pattern (keeps matching cheap).
const MAX_STARS: usize = 4;
/// Largest transcript file we read.
const MAX_SCRIPT_LEN: u64 = 1 << 20;

/// Why a transcript file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The file (or directory) could not be read.
    #[error("cannot read transcript {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Over 1 MiB.
    #[error("transcript {0} is too large")]
    TooLarge(PathBuf),
    /// A line breaks the format.
    #[error("{script}:{line}: {message}")]
    Syntax {
        /// The script's name.
        script: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A failure of the card under test itself (not a wrong answer).
pub type TargetError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a transcript run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The card answered differently from the transcript.
    #[error("{script}:{line}: expected `{expected}`, the card answered {actual}")]
    Mismatch {
        /// The script's name.
        script: String,
        /// 1-based line number of the expectation.
        line: usize,
        /// The expected pattern, as written.
        expected: String,
        /// What came back, in hex.
        actual: String,
    },
    /// An expression refers to something the fixture does not have (e.g. `$CERT` on a blank
    /// card), or is ill-formed once resolved.
    #[error("{script}:{line}: {message}")]
    Unresolvable {
        /// The script's name.
        script: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The card under test failed to answer at all.
    #[error("{script}:{line}: the card under test failed")]
    Target {
        /// The script's name.
        script: String,
        /// 1-based line number.
        line: usize,
        /// Its error.
        #[source]
        source: TargetError,
    },
}

/// What a transcript can drive: send APDUs, reset, power-cycle and read the ATR.
pub trait CardUnderTest {
    /// Sends one APDU, returns the raw response (data and status word).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TargetError>;
    /// Warm reset.
    fn reset(&mut self) -> Result<(), TargetError>;
    /// Power off, then on.
    fn power_cycle(&mut self) -> Result<(), TargetError>;
    /// The card's current ATR.
    fn atr(&mut self) -> Result<Vec<u8>, TargetError>;
}

impl CardUnderTest for SoftCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TargetError> {
        Ok(self.handle(command))
    }

    fn reset(&mut self) -> Result<(), TargetError> {
        SoftCard::reset(self);
        Ok(())
    }

    fn power_cycle(&mut self) -> Result<(), TargetError> {
        self.power_off();
        self.power_on();
        Ok(())
    }

    fn atr(&mut self) -> Result<Vec<u8>, TargetError> {
        Ok(crate::card::ATR.to_vec())
    }
}

/// A card under test made of closures: `exchange` sends an APDU, the others are the hooks.
pub struct FnCard<X, R, P, A> {
    /// Sends one APDU, returns data and status word.
    pub exchange: X,
    /// Warm reset.
    pub reset: R,
    /// Power off, then on.
    pub power_cycle: P,
    /// The ATR.
    pub atr: A,
}

impl<X, R, P, A> CardUnderTest for FnCard<X, R, P, A>
where
    X: FnMut(&[u8]) -> Vec<u8>,
    R: FnMut(),
    P: FnMut(),
    A: FnMut() -> Vec<u8>,
{
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TargetError> {
        Ok((self.exchange)(command))
    }

    fn reset(&mut self) -> Result<(), TargetError> {
        (self.reset)();
        Ok(())
    }

    fn power_cycle(&mut self) -> Result<(), TargetError> {
        (self.power_cycle)();
        Ok(())
    }

    fn atr(&mut self) -> Result<Vec<u8>, TargetError> {
        Ok((self.atr)())
    }
}

/// The card a script starts from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fixture {
    /// A factory-fresh card.
    Blank {
        /// Its transport PUK.
        puk: Puk,
    },
    /// A card issued through the real issuance flow.
    Personalised {
        /// The operator's PIN.
        pin: Pin,
        /// The PUK.
        puk: Puk,
        /// The operator ID in the certificate.
        operator: String,
        /// The role in the certificate.
        role: Role,
    },
}

impl Fixture {
    /// The serial number of personalised fixtures.
    pub const SERIAL: CardSerial = CardSerial([0xC0, 0xFF, 0xEE, 0x00, 0x00, 0x00, 0x00, 0x01]);

    /// Builds the fixture card's image; `issuer` signs a personalised card's certificate.
    pub fn build(&self, issuer: &IssuerKey) -> Result<CardImage, CreateCardError> {
        match self {
            Fixture::Blank { puk } => Ok(CardImage::blank(puk)),
            Fixture::Personalised {
                pin,
                puk,
                operator,
                role,
            } => {
                let request = IssueRequest {
                    serial: Self::SERIAL,
                    operator_id: operator.clone(),
                    role: *role,
                    valid_from: time::macros::date!(2020 - 01 - 01),
                    valid_until: time::macros::date!(2099 - 12 - 31),
                };
                create_card(issuer, puk, pin, &request)
            }
        }
    }
}

/// One item of a byte expression.
#[derive(Clone)]
enum Node {
    Hex(Vec<u8>),
    Secret(Zeroizing<Vec<u8>>),
    Aid,
    Cert,
    Tlv(Vec<u8>, Vec<Node>),
    Lc(Vec<Node>),
    AnyBytes(usize),
    AnyRun,
}

/// A resolved pattern element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elem {
    Byte(u8),
    Any,
    Star,
}

#[derive(Clone)]
enum StepKind {
    Send {
        command: Vec<Node>,
        expect: Vec<Node>,
        expect_text: String,
        expect_line: usize,
    },
    Reset,
    PowerCycle,
    Atr {
        pattern: Vec<Node>,
        text: String,
    },
}

#[derive(Clone)]
struct Step {
    line: usize,
    kind: StepKind,
}

/// A parsed transcript file.
#[derive(Clone)]
pub struct Script {
    name: String,
    fixture: Fixture,
    steps: Vec<Step>,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.name)
            .field("fixture", &self.fixture)
            .field("steps", &self.steps.len())
            .finish()
    }
}

/// The directory of the project's transcripts (`tests/transcripts` at the workspace root).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts")
}

/// Loads every `*.txt` transcript of a directory, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Script>, ScriptError> {
    let io = |source| ScriptError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "txt") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| Script::load(p)).collect()
}

impl Script {
    /// The script's name (its file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fixture it starts from.
    pub fn fixture(&self) -> &Fixture {
        &self.fixture
    }

    /// How many APDUs it sends.
    pub fn apdu_count(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Send { .. }))
            .count()
    }

    /// The status words the script expects: the last two bytes of every `<` pattern (for
    /// coverage checks).
    pub fn expected_status_words(&self) -> BTreeSet<[u8; 2]> {
        let ctx = Context {
            cert: Some(&[0x7F, 0x21, 0x00]),
        };
        self.steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Send { expect, .. } => resolve(expect, &ctx).ok(),
                _ => None,
            })
            .filter_map(|p| match p.as_slice() {
                [.., Elem::Byte(a), Elem::Byte(b)] => Some([*a, *b]),
                _ => None,
            })
            .collect()
    }

    /// The INS bytes of the commands the script sends (for coverage checks).
    pub fn instructions(&self) -> BTreeSet<u8> {
        let ctx = Context {
            cert: Some(&[0x7F, 0x21, 0x00]),
        };
        self.steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Send { command, .. } => resolve(command, &ctx).ok(),
                _ => None,
            })
            .filter_map(|c| match c.get(1) {
                Some(Elem::Byte(ins)) => Some(*ins),
                _ => None,
            })
            .collect()
    }

    /// Reads and parses a transcript file.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let io = |source| ScriptError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_SCRIPT_LEN {
            return Err(ScriptError::TooLarge(path.to_owned()));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self::parse(&name, &text)
    }

    /// Parses transcript text; `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<Self, ScriptError> {
        let syntax = |line: usize, message: String| ScriptError::Syntax {
            script: name.to_owned(),
            line,
            message,
        };
        let mut fixture = None;
        let mut steps = Vec::new();
        let mut pending: Option<(usize, Vec<Node>)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('<') {
                let (cmd_line, command) = pending
                    .take()
                    .ok_or_else(|| syntax(line, "`<` without a `>` before it".into()))?;
                let expect = parse_expr(rest, true).map_err(|m| syntax(line, m))?;
                steps.push(Step {
                    line: cmd_line,
                    kind: StepKind::Send {
                        command,
                        expect,
                        expect_text: rest.trim().to_owned(),
                        expect_line: line,
                    },
                });
                continue;
            }
            if let Some((cmd_line, _)) = pending {
                return Err(syntax(
                    cmd_line,
                    "`>` must be followed by a `<` line".into(),
                ));
            }
            if let Some(rest) = trimmed.strip_prefix("card:") {
                if fixture.is_some() || !steps.is_empty() {
                    return Err(syntax(
                        line,
                        "`card:` must come once, before any step".into(),
                    ));
                }
                fixture = Some(parse_fixture(rest).map_err(|m| syntax(line, m))?);
                continue;
            }
            if fixture.is_none() {
                return Err(syntax(line, "the first directive must be `card:`".into()));
            }
            if let Some(rest) = trimmed.strip_prefix('>') {
                let command = parse_expr(rest, false).map_err(|m| syntax(line, m))?;
                pending = Some((line, command));
            } else if let Some(rest) = trimmed.strip_prefix("atr:") {
                let pattern = parse_expr(rest, true).map_err(|m| syntax(line, m))?;
                steps.push(Step {
                    line,
                    kind: StepKind::Atr {
                        pattern,
                        text: rest.trim().to_owned(),
                    },
                });
            } else if trimmed == "reset" {
                steps.push(Step {
                    line,
                    kind: StepKind::Reset,
                });
            } else if trimmed == "power-cycle" {
                steps.push(Step {
                    line,
                    kind: StepKind::PowerCycle,
                });
            } else {
                return Err(syntax(line, "unknown directive".into()));
            }
        }
        if let Some((cmd_line, _)) = pending {
            return Err(syntax(
                cmd_line,
                "`>` must be followed by a `<` line".into(),
            ));
        }
        let fixture = fixture.ok_or_else(|| syntax(1, "no `card:` fixture".into()))?;
        Ok(Script {
            name: name.to_owned(),
            fixture,
            steps,
        })
    }

    /// Replays the script against `card`, which must start as `image` (the built fixture)
    /// freshly powered on. Returns the number of APDUs exchanged.
    pub fn run(&self, image: &CardImage, card: &mut dyn CardUnderTest) -> Result<usize, RunError> {
        let cert = image.certificate().map(|c| c.encode());
        let ctx = Context {
            cert: cert.as_deref(),
        };
        let mut apdus = 0;
        for step in &self.steps {
            let line = step.line;
            let unresolvable = |message: String| RunError::Unresolvable {
                script: self.name.clone(),
                line,
                message,
            };
            let target = |source| RunError::Target {
                script: self.name.clone(),
                line,
                source,
            };
            match &step.kind {
                StepKind::Send {
                    command,
                    expect,
                    expect_text,
                    expect_line,
                } => {
                    let command =
                        Zeroizing::new(to_bytes(&resolve(command, &ctx).map_err(unresolvable)?));
                    let pattern =
                        resolve(expect, &ctx).map_err(|message| RunError::Unresolvable {
                            script: self.name.clone(),
                            line: *expect_line,
                            message,
                        })?;
                    let response = card.transmit(&command).map_err(target)?;
                    apdus += 1;
                    if !matches(&pattern, &response) {
                        return Err(RunError::Mismatch {
                            script: self.name.clone(),
                            line: *expect_line,
                            expected: expect_text.clone(),
                            actual: hex::encode_upper(&response),
                        });
                    }
                }
                StepKind::Reset => card.reset().map_err(target)?,
                StepKind::PowerCycle => card.power_cycle().map_err(target)?,
                StepKind::Atr { pattern, text } => {
                    let pattern = resolve(pattern, &ctx).map_err(unresolvable)?;
                    let atr = card.atr().map_err(target)?;
                    if !matches(&pattern, &atr) {
                        return Err(RunError::Mismatch {
                            script: self.name.clone(),
                            line,
                            expected: text.clone(),
                            actual: hex::encode_upper(&atr),
                        });
                    }
                }
            }
        }
        Ok(apdus)
    }

    /// Builds the fixture with `issuer` and replays the script against a fresh in-process
    /// [`SoftCard`].
    pub fn run_in_process(&self, issuer: &IssuerKey) -> Result<usize, RunInProcessError> {
        let image = self.fixture.build(issuer)?;
        let mut card = SoftCard::in_memory(image.clone());
        card.power_on();
        Ok(self.run(&image, &mut card)?)
    }
}

/// Why an in-process run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunInProcessError {
    /// The fixture could not be built.
    #[error("could not build the fixture card")]
    Fixture(#[from] CreateCardError),
    /// The run failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

fn parse_fixture(text: &str) -> Result<Fixture, String> {
    let mut words = text.split_whitespace();
    let kind = words
        .next()
        .ok_or("`card:` needs `blank` or `personalised`")?;
    let (mut pin, mut puk, mut operator, mut role) = (None, None, None, None);
    for word in words {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("`{word}` is not key=value"))?;
        match key {
            "pin" => pin = Some(Pin::parse(value).map_err(|e| format!("pin: {e}"))?),
            "puk" => puk = Some(Puk::parse(value).map_err(|e| format!("puk: {e}"))?),
            "operator" => operator = Some(value.to_owned()),
            "role" => {
                role = Some(match value {
                    "operator" => Role::Operator,
                    "manager" => Role::AccessManager,
                    _ => return Err("role must be operator or manager".into()),
                })
            }
            _ => return Err(format!("unknown fixture key `{key}`")),
        }
    }
    let puk = puk.ok_or("the fixture needs puk=")?;
    match kind {
        "blank" => {
            if pin.is_some() || operator.is_some() || role.is_some() {
                return Err("a blank card takes only puk=".into());
            }
            Ok(Fixture::Blank { puk })
        }
        "personalised" => Ok(Fixture::Personalised {
            pin: pin.ok_or("a personalised card needs pin=")?,
            puk,
            operator: operator.unwrap_or_else(|| "op-0042".to_owned()),
            role: role.unwrap_or(Role::Operator),
        }),
        other => Err(format!("unknown fixture `{other}` (blank or personalised)")),
    }
}

/// Parses a byte expression. `pattern` allows the wildcards.
fn parse_expr(text: &str, pattern: bool) -> Result<Vec<Node>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let nodes = parse_seq(&chars, &mut pos, pattern, None)?;
    if nodes.is_empty() {
        return Err("empty byte expression".into());
    }
    Ok(nodes)
}

fn parse_seq(
    chars: &[char],
    pos: &mut usize,
    pattern: bool,
    close: Option<char>,
) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    loop {
        let Some(&c) = chars.get(*pos) else {
            return match close {
                Some(c) => Err(format!("missing `{c}`")),
                None => Ok(nodes),
            };
        };
        match c {
            c if c.is_whitespace() => *pos += 1,
            c if Some(c) == close => {
                *pos += 1;
                return Ok(nodes);
            }
            c if c.is_ascii_hexdigit() => {
                let start = *pos;
                while chars.get(*pos).is_some_and(|c| c.is_ascii_hexdigit()) {
                    *pos += 1;
                }
                let digits: String = chars[start..*pos].iter().collect();
                let bytes = hex::decode(&digits)
                    .map_err(|_| format!("odd number of hex digits in `{digits}`"))?;
                if chars.get(*pos) == Some(&'{') {
                    if !(1..=3).contains(&bytes.len()) {
                        return Err(format!("TLV tag `{digits}` must be 1 to 3 bytes"));
                    }
                    *pos += 1;
                    let inner = parse_seq(chars, pos, pattern, Some('}'))?;
                    nodes.push(Node::Tlv(bytes, inner));
                } else {
                    nodes.push(Node::Hex(bytes));
                }
            }
            '\'' | '"' => {
                *pos += 1;
                let start = *pos;
                while chars.get(*pos).is_some_and(|&x| x != c) {
                    *pos += 1;
                }
                if *pos >= chars.len() {
                    return Err(format!("unterminated {c}"));
                }
                let text: String = chars[start..*pos].iter().collect();
                *pos += 1;
                if !text.is_ascii() {
                    return Err("quoted text must be ASCII".into());
                }
                if c == '\'' {
                    if text.len() > SECRET_WIRE_LEN {
                        return Err(format!(
                            "a quoted secret has at most {SECRET_WIRE_LEN} characters"
                        ));
                    }
                    let mut wire = Zeroizing::new(vec![0xFF; SECRET_WIRE_LEN]);
                    wire[..text.len()].copy_from_slice(text.as_bytes());
                    nodes.push(Node::Secret(wire));
                } else {
                    nodes.push(Node::Hex(text.into_bytes()));
                }
            }
            '$' => {
                *pos += 1;
                let start = *pos;
                while chars
                    .get(*pos)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    *pos += 1;
                }
                let name: String = chars[start..*pos].iter().collect();
                nodes.push(match name.as_str() {
                    "AID" => Node::Aid,
                    "CERT" => Node::Cert,
                    _ => return Err(format!("unknown variable `${name}` ($AID, $CERT)")),
                });
            }
            '[' => {
                *pos += 1;
                let inner = parse_seq(chars, pos, pattern, Some(']'))?;
                nodes.push(Node::Lc(inner));
            }
            '?' if pattern => {
                *pos += 1;
                let start = *pos;
                while chars.get(*pos).is_some_and(|c| c.is_ascii_digit()) {
                    *pos += 1;
                }
                let digits: String = chars[start..*pos].iter().collect();
                let n: usize = digits
                    .parse()
                    .map_err(|_| "`?` needs a byte count, e.g. `?64`".to_owned())?;
                if n == 0 || n > 4096 {
                    return Err("`?N` needs 1 <= N <= 4096".into());
                }
                nodes.push(Node::AnyBytes(n));
            }
            '*' if pattern => {
                if close.is_some() {
                    return Err("`*` cannot be inside `{}` or `[]`".into());
                }
                *pos += 1;
                nodes.push(Node::AnyRun);
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
}

struct Context<'a> {
    cert: Option<&'a [u8]>,
}

fn push_bytes(out: &mut Vec<Elem>, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| Elem::Byte(b)));
}

fn resolve(nodes: &[Node], ctx: &Context<'_>) -> Result<Vec<Elem>, String> {
    let mut out = Vec::new();
    for node in nodes {
        match node {
            Node::Hex(b) => push_bytes(&mut out, b),
            Node::Secret(b) => push_bytes(&mut out, b),
            Node::Aid => push_bytes(&mut out, &AID),
            Node::Cert => push_bytes(
                &mut out,
                ctx.cert
                    .ok_or("`$CERT`: the fixture card has no certificate")?,
            ),
            Node::AnyBytes(n) => out.resize(out.len() + n, Elem::Any),
            Node::AnyRun => out.push(Elem::Star),
            Node::Tlv(tag, inner) => {
                let inner = resolve(inner, ctx)?;
                push_bytes(&mut out, tag);
                let len = inner.len();
                if len < 0x80 {
                    out.push(Elem::Byte(len as u8));
                } else if len <= 0xFF {
                    push_bytes(&mut out, &[0x81, len as u8]);
                } else if let Ok(len) = u16::try_from(len) {
                    out.push(Elem::Byte(0x82));
                    push_bytes(&mut out, &len.to_be_bytes());
                } else {
                    return Err("TLV contents too long".into());
                }
                out.extend(inner);
            }
            Node::Lc(inner) => {
                let inner = resolve(inner, ctx)?;
                let lc = u8::try_from(inner.len())
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("`[]` contents must be 1 to 255 bytes")?;
                out.push(Elem::Byte(lc));
                out.extend(inner);
            }
        }
    }
    if out.iter().filter(|e| **e == Elem::Star).count() > MAX_STARS {
        return Err(format!("at most {MAX_STARS} `*` per line"));
    }
    Ok(out)
}

fn to_bytes(elems: &[Elem]) -> Vec<u8> {
    // Commands are parsed without wildcards, so every element is a byte.
    elems
        .iter()
        .filter_map(|e| match e {
            Elem::Byte(b) => Some(*b),
            _ => None,
        })
        .collect()
}

fn matches(pattern: &[Elem], bytes: &[u8]) -> bool {
    match pattern.split_first() {
        None => bytes.is_empty(),
        Some((Elem::Star, rest)) => (0..=bytes.len()).any(|skip| matches(rest, &bytes[skip..])),
        Some((Elem::Any, rest)) => !bytes.is_empty() && matches(rest, &bytes[1..]),
        Some((Elem::Byte(b), rest)) => bytes.first() == Some(b) && matches(rest, &bytes[1..]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn bytes(text: &str, cert: Option<&[u8]>) -> Vec<Elem> {
        resolve(&parse_expr(text, true).unwrap(), &Context { cert }).unwrap()
    }

    #[test]
    fn expressions() {
        let e = bytes("00 A4 0400 [$AID] 00", None);
        let mut want = vec![0x00, 0xA4, 0x04, 0x00, 0x0A];
        want.extend_from_slice(&AID);
        want.push(0);
        assert_eq!(to_bytes(&e), want);
        let e = bytes("[ 'ab12' ]", None);
        assert_eq!(to_bytes(&e)[..5], [0x10, b'a', b'b', b'1', b'2']);
        assert!(to_bytes(&e)[5..].iter().all(|&b| b == 0xFF));
        assert_eq!(
            to_bytes(&bytes("6F{84{01 02}}", None)),
            vec![0x6F, 4, 0x84, 2, 1, 2]
        );
        assert_eq!(to_bytes(&bytes("53{?200}", None))[..3], [0x53, 0x81, 200]);
        assert_eq!(
            to_bytes(&bytes("\"ab\" $CERT", Some(&[9]))),
            vec![b'a', b'b', 9]
        );
    }

    #[test]
    fn matching() {
        assert!(matches(&bytes("9000", None), &[0x90, 0x00]));
        assert!(!matches(&bytes("9000", None), &[0x01, 0x90, 0x00]));
        assert!(matches(&bytes("* 9000", None), &[0x01, 0x90, 0x00]));
        assert!(matches(&bytes("* 9000", None), &[0x90, 0x00]));
        assert!(matches(&bytes("?2 9000", None), &[1, 2, 0x90, 0x00]));
        assert!(!matches(&bytes("?2 9000", None), &[1, 0x90, 0x00]));
        assert!(matches(
            &bytes("7F49{86{04 ?2}} 9000", None),
            &[0x7F, 0x49, 5, 0x86, 3, 4, 7, 7, 0x90, 0]
        ));
        assert!(!matches(
            &bytes("7F49{86{04 ?2}} 9000", None),
            &[0x7F, 0x49, 5, 0x86, 3, 5, 7, 7, 0x90, 0]
        ));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let cases = [
            ("> 00A4\n", 1, "card:"),
            (
                "card: blank puk=Kitsune12345\n> 00A4\n> 00A4\n< 9000\n",
                2,
                "followed",
            ),
            ("card: blank puk=Kitsune12345\n< 9000\n", 2, "without"),
            ("card: blank puk=Kitsune12345\n> 0A4\n< 9000\n", 2, "odd"),
            (
                "card: blank puk=Kitsune12345\n> 00 *\n< 9000\n",
                2,
                "unexpected",
            ),
            (
                "card: blank puk=Kitsune12345\n> 00\n< 6F{* 00}\n",
                3,
                "inside",
            ),
            ("card: blank puk=short\n", 1, "puk"),
            ("card: blank puk=Kitsune12345\nfrobnicate\n", 2, "unknown"),
            ("card: personalised puk=Kitsune12345\n", 1, "pin="),
        ];
        for (text, line, needle) in cases {
            match Script::parse("t", text) {
                Err(ScriptError::Syntax {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{text:?}: {message}");
                    assert!(message.contains(needle), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
