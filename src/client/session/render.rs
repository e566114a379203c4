//! A reply's typed body as result fields and human lines (users, search hits, the
//! store listing, removals).

use super::store_name;
use crate::output::{human_size, with_store_rows, CommandResult, StoreRow};
use crate::proto::message::{hash_hex, Body};

/// Put a reply's typed body into the result's JSON fields and human lines.
pub(super) fn with_body(mut r: CommandResult, body: Body) -> CommandResult {
    match body {
        Body::None => r,
        // The token is a credential: never shown.
        Body::LoggedIn { online, .. } => r.field("online", online),
        Body::Users(users) => {
            for u in &users {
                r = r.line(u.clone());
            }
            r.field("users", users)
        }
        Body::Search { hits, truncated } => {
            let mut files = Vec::new();
            for hit in &hits {
                let hex = hash_hex(&hit.file.hash);
                r = r.line(format!(
                    "{}  {}  {}  from {}",
                    hit.file.name,
                    human_size(hit.file.size),
                    &hex[..16],
                    hit.owners.join(", ")
                ));
                files.push(serde_json::json!({
                    "name": hit.file.name, "size": hit.file.size, "hash": hex, "owners": hit.owners
                }));
            }
            r.field("files", files).field("truncated", truncated)
        }
        Body::Store {
            entries,
            truncated,
            used,
            quota,
        } => {
            let rows = entries.iter().map(StoreRow::from);
            with_store_rows(r, rows)
                .line(store_name::usage_line(used, quota))
                .field("truncated", truncated)
                .field("used", used)
                .field("quota", quota)
        }
        Body::Removed {
            name,
            kind,
            files,
            bytes,
        } => r
            .field("name", name)
            .field("kind", kind.as_str())
            .field("files", files)
            .field("bytes", bytes),
        Body::RetryAfter(seconds) => r.field("retry_after", seconds),
        Body::Holders(_) | Body::Ticket { .. } => r,
    }
}
