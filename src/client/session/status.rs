//! `status`: where the client stands, in one result a script or a page can recover its
//! state from (the loop adds `hub`, `share`, this client's `fingerprint` and the
//! `transfers` in flight).

use super::{Link, Publication, Session};
use crate::output::CommandResult;
use crate::proto::status::Status;

impl Session {
    /// The command (input line) transfer `job` runs for: a fetch's, or a store
    /// transfer's.
    pub fn command_of(&self, job: u64) -> Option<u64> {
        self.downloads
            .get(&job)
            .map(|d| d.id)
            .or_else(|| self.store_jobs.get(&job).map(|j| j.id))
    }

    /// The session's part of the `status` result of line `id`.
    pub(super) fn status(&self, id: u64) -> CommandResult {
        let link = match self.link {
            Link::Up => "connected",
            Link::Connecting => "connecting",
            Link::Down { .. } => "reconnecting",
        };
        let message = match &self.user {
            Some(user) => format!("logged in as {user}"),
            None => "not logged in".to_owned(),
        };
        let publications: Vec<serde_json::Value> =
            self.published.iter().map(Publication::json).collect();
        let mut r = CommandResult::new(id, "status", true, Status::OK.0, message)
            .line(format!("hub link: {link}"))
            .line(format!("publications: {}", publications.len()));
        for p in self.published.iter() {
            r = r.line(format!("  {}  ({})", p.name, p.path));
        }
        r.field("logged_in", self.user.is_some())
            .field("user", self.user.clone())
            .field("link", link)
            .field("publications", publications)
            .field("publishing", self.hashing.len())
            .field("pending", self.unanswered_before(u64::MAX).len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{add_publication, logged_in, session, type_line};
    use super::super::Action;

    fn status_of(out: &[Action]) -> &crate::output::CommandResult {
        match out {
            [Action::Status(r)] => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_reports_login_link_and_publications() {
        let mut s = session(false);
        let out = type_line(&mut s, 1, "status");
        let r = status_of(&out);
        assert_eq!(r.fields["logged_in"], false);
        assert_eq!(r.fields["user"], serde_json::Value::Null);
        assert_eq!(r.fields["link"], "connecting");
        assert_eq!(r.message, "not logged in");

        let mut s = logged_in(false);
        add_publication(&mut s, "song", "music/song.ogg", 3, 1);
        type_line(&mut s, 2, "search x");
        let out = type_line(&mut s, 3, "status");
        let r = status_of(&out);
        assert_eq!((r.id, r.status), (3, 200));
        assert_eq!(r.fields["logged_in"], true);
        assert_eq!(r.fields["user"], "me");
        assert_eq!(r.fields["link"], "connected");
        assert_eq!(r.fields["pending"], 1);
        assert_eq!(r.fields["publications"][0]["name"], "song");
        assert_eq!(r.fields["publications"][0]["path"], "music/song.ogg");
    }
}
