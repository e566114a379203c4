//! A command's arguments checked against its usage line: positionals, options anywhere, `--`, arity, empty values, and the rest of the line for chat.

use super::lex::{is_blank, next_word, without_dashes};
use super::table::Entry;

/// An option as described by a usage line: `--flag` or `--opt <value>`.
pub(super) struct OptSpec {
    pub(super) flag: &'static str,
    pub(super) value: Option<&'static str>,
}

/// Positionals and options derived from a usage line.
pub(super) struct Spec {
    pub(super) required: Vec<&'static str>,
    pub(super) optional: Vec<&'static str>,
    pub(super) options: Vec<OptSpec>,
}

impl Spec {
    /// Derive the argument spec from a usage line (see the command table).
    pub(super) fn of(usage: &'static str) -> Spec {
        let mut spec = Spec {
            required: Vec::new(),
            optional: Vec::new(),
            options: Vec::new(),
        };
        let mut tokens = usage.split_whitespace().skip(1);
        while let Some(t) = tokens.next() {
            if let Some(opt) = t.strip_prefix('[').filter(|o| o.starts_with("--")) {
                match opt.strip_suffix(']') {
                    Some(flag) => spec.options.push(OptSpec { flag, value: None }),
                    None => {
                        let value = tokens.next().unwrap_or("<value>]").trim_end_matches(']');
                        spec.options.push(OptSpec {
                            flag: opt,
                            value: Some(value),
                        });
                    }
                }
            } else if let Some(opt) = t.strip_prefix('[') {
                spec.optional.push(opt.trim_end_matches(']'));
            } else {
                spec.required.push(t);
            }
        }
        spec
    }
}

/// The arguments of a command after option and arity checks.
pub(super) struct Args {
    positional: std::vec::IntoIter<String>,
    options: Vec<(&'static str, Option<String>)>,
}

impl Args {
    /// Read and check the arguments of `entry` from `line`, starting at byte `after`
    /// (just past the command word).
    pub(super) fn of_line(entry: &Entry, line: &str, after: usize) -> Result<Args, String> {
        if entry.rest {
            return Args::rest_of_line(entry, line, after);
        }
        let mut words = Vec::new();
        let mut pos = after;
        while let Some((w, end)) = next_word(line, pos)? {
            words.push(w);
            pos = end;
        }
        Args::parse(entry, words)
    }

    /// A chat command: every positional but the last is a word, the last is the rest
    /// of the line as typed (without a leading `--` word); none may be empty.
    fn rest_of_line(entry: &Entry, line: &str, after: usize) -> Result<Args, String> {
        let spec = Spec::of(entry.usage);
        let Some((last, firsts)) = spec.required.split_last() else {
            return Ok(Args::given(Vec::new()));
        };
        let mut words = Vec::new();
        let mut pos = after;
        for name in firsts {
            let Some((word, end)) = next_word(line, pos)? else {
                return Err(format!("missing {name}"));
            };
            if word.is_empty() {
                return Err(format!("{name} must not be empty"));
            }
            words.push(word);
            pos = end;
        }
        let text = without_dashes(line[pos..].trim_start_matches(is_blank));
        if text.is_empty() {
            return Err(format!("missing {last}"));
        }
        words.push(text.into());
        Ok(Args::given(words))
    }

    /// Arguments that are all positionals, already checked.
    fn given(positional: Vec<String>) -> Args {
        Args {
            positional: positional.into_iter(),
            options: Vec::new(),
        }
    }

    /// Separate options from positionals and check them against the usage line.
    fn parse(entry: &Entry, words: Vec<String>) -> Result<Args, String> {
        let spec = Spec::of(entry.usage);
        let mut positional = Vec::new();
        let mut options: Vec<(&'static str, Option<String>)> = Vec::new();
        let mut options_done = false;
        let mut words = words.into_iter();
        while let Some(w) = words.next() {
            if !options_done && w == "--" {
                options_done = true;
                continue;
            }
            if options_done || !w.starts_with("--") {
                positional.push(w);
                continue;
            }
            let Some(opt) = spec.options.iter().find(|o| o.flag == w) else {
                return Err(unknown_option(entry.word(), &w, &spec));
            };
            if options.iter().any(|(f, _)| *f == opt.flag) {
                return Err(format!("option {} given more than once", opt.flag));
            }
            let value = match opt.value {
                None => None,
                Some(placeholder) => match words.next() {
                    Some(v) if !v.starts_with("--") => {
                        if v.is_empty() {
                            return Err(format!(
                                "{placeholder} for {} must not be empty",
                                opt.flag
                            ));
                        }
                        Some(v)
                    }
                    _ => return Err(format!("option {} needs a value {placeholder}", opt.flag)),
                },
            };
            options.push((opt.flag, value));
        }
        let max = spec.required.len() + spec.optional.len();
        if let Some(missing) = spec.required.get(positional.len()) {
            return Err(format!("missing {missing}"));
        }
        if let Some(extra) = positional.get(max) {
            return Err(format!("unexpected extra argument {extra:?}"));
        }
        let names = spec.required.iter().chain(spec.optional.iter());
        if let Some((name, _)) = names.zip(&positional).find(|(_, v)| v.is_empty()) {
            return Err(format!("{name} must not be empty"));
        }
        Ok(Args {
            positional: positional.into_iter(),
            options,
        })
    }

    /// The next required positional (arity was checked, so it is present).
    pub(super) fn req(&mut self) -> String {
        self.positional.next().unwrap_or_default()
    }

    /// The next optional positional, if given.
    pub(super) fn opt(&mut self) -> Option<String> {
        self.positional.next()
    }

    /// The value given to option `flag`, if any.
    pub(super) fn value(&self, flag: &str) -> Option<String> {
        self.options
            .iter()
            .find(|(f, _)| *f == flag)
            .and_then(|(_, v)| v.clone())
    }

    /// Whether flag option `flag` was given.
    pub(super) fn flag(&self, flag: &str) -> bool {
        self.options.iter().any(|(f, _)| *f == flag)
    }
}

/// The message for an option the command does not take.
fn unknown_option(word: &str, given: &str, spec: &Spec) -> String {
    if spec.options.is_empty() {
        format!(
            "unknown option {given:?} ({word} takes no options; put -- before an argument that starts with --)"
        )
    } else {
        let known: Vec<&str> = spec.options.iter().map(|o| o.flag).collect();
        format!("unknown option {given:?} (options: {})", known.join(", "))
    }
}
