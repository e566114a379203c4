//! What a process prints on stdout: human text by default, one JSON object per line
//! with `--json`. Nothing else writes to stdout.

mod human;
mod transfers;

pub use human::{
    files_and_size, human_eta, human_rate, human_size, utc_time, with_store_rows, StoreRow,
};
pub use transfers::{transfers_result, Flow, Row, MIN_RATE_WINDOW};

use serde_json::{Map, Value};
use std::io::Write;

/// The end of one typed command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResult {
    /// The 1-based input line that issued the command.
    pub id: u64,
    pub command: String,
    pub ok: bool,
    pub status: u16,
    pub message: String,
    /// Extra fields a script can rely on (`users`, `files`, …).
    pub fields: Map<String, Value>,
    /// Extra lines printed after the message in human mode (tables, lists).
    pub detail: Vec<String>,
}

impl CommandResult {
    /// A result with no extra fields.
    pub fn new(id: u64, command: &str, ok: bool, status: u16, message: impl Into<String>) -> Self {
        CommandResult {
            id,
            command: command.to_owned(),
            ok,
            status,
            message: message.into(),
            fields: Map::new(),
            detail: Vec::new(),
        }
    }

    /// Add a JSON field.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// Add a line shown to people after the message.
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.detail.push(line.into());
        self
    }
}

/// Something that happened on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: &'static str,
    pub fields: Map<String, Value>,
    /// The line a person sees.
    pub human: String,
}

impl Event {
    /// An event with its human line.
    pub fn new(name: &'static str, human: impl Into<String>) -> Event {
        Event {
            name,
            fields: Map::new(),
            human: human.into(),
        }
    }

    /// Add a JSON field.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }
}

/// Renders results and events to stdout.
pub struct Output {
    json: bool,
    /// Held text instead of stdout: a line editor owns the terminal and prints it
    /// above its input line.
    held: Option<Vec<String>>,
}

impl Output {
    /// Human text, or NDJSON when `json`.
    pub fn new(json: bool) -> Output {
        Output { json, held: None }
    }

    /// Hold what would be printed, for [`Output::take_held`], from now on.
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// The text held since the last call, in order.
    pub fn take_held(&mut self) -> Vec<String> {
        self.held.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whether output is NDJSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Print the end of a command.
    pub fn result(&mut self, result: &CommandResult) {
        let text = if self.json {
            result_json(result).to_string()
        } else {
            result_human(result)
        };
        self.emit(text);
    }

    /// Print an event. An event without a human line (a routine ping) shows only in `--json`.
    pub fn event(&mut self, event: &Event) {
        if self.json {
            self.emit(event_json(event).to_string());
        } else if !event.human.is_empty() {
            self.emit(event.human.clone());
        }
    }

    fn emit(&mut self, text: String) {
        if let Some(held) = self.held.as_mut() {
            held.push(text);
            return;
        }
        let mut out = std::io::stdout().lock();
        // A closed stdout must not take the process down; there is nobody left to tell.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// The JSON object of a result, fields in contract order.
pub fn result_json(r: &CommandResult) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), "result".into());
    map.insert("id".into(), r.id.into());
    map.insert("command".into(), r.command.clone().into());
    map.insert("ok".into(), r.ok.into());
    map.insert("status".into(), r.status.into());
    map.insert("message".into(), r.message.clone().into());
    for (k, v) in &r.fields {
        map.insert(k.clone(), v.clone());
    }
    Value::Object(map)
}

/// The JSON object of an event.
pub fn event_json(e: &Event) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), "event".into());
    map.insert("event".into(), e.name.into());
    for (k, v) in &e.fields {
        map.insert(k.clone(), v.clone());
    }
    Value::Object(map)
}

fn result_human(r: &CommandResult) -> String {
    let mut text = if r.ok {
        r.message.clone()
    } else {
        format!("error {}: {}", r.status, r.message)
    };
    for line in &r.detail {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_json_has_contract_fields_first() {
        let r =
            CommandResult::new(3, "users", true, 200, "2 online").field("users", vec!["a", "b"]);
        assert_eq!(
            result_json(&r).to_string(),
            r#"{"type":"result","id":3,"command":"users","ok":true,"status":200,"message":"2 online","users":["a","b"]}"#
        );
    }

    #[test]
    fn human_error_and_detail() {
        let r = CommandResult::new(1, "login", false, 402, "wrong password");
        assert_eq!(result_human(&r), "error 402: wrong password");
        let r = CommandResult::new(1, "users", true, 200, "2 online")
            .line("a")
            .line("b");
        assert_eq!(result_human(&r), "2 online\n  a\n  b");
    }

    #[test]
    fn held_text_waits_in_order() {
        let mut out = Output::new(false);
        out.hold();
        out.result(&CommandResult::new(1, "users", true, 200, "1 online").line("a"));
        out.event(&Event::new("join", "b joined"));
        out.event(&Event::new("ping", ""));
        assert_eq!(out.take_held(), ["1 online\n  a", "b joined"]);
        assert!(out.take_held().is_empty());
    }

    #[test]
    fn event_json_shape() {
        let e = Event::new("join", "bob joined (2 online)")
            .field("user", "bob")
            .field("online", 2);
        assert_eq!(
            event_json(&e).to_string(),
            r#"{"type":"event","event":"join","user":"bob","online":2}"#
        );
    }
}
