//! `cancel`: stop the fetches, lookups and store transfers of a name.

use super::fetch::fetch_failed;
use super::{Action, Session, Then};
use crate::output::CommandResult;
use crate::proto::status::Status;

impl Session {
    pub(super) fn cancel(&mut self, id: u64, name: &str, out: &mut Vec<Action>) {
        let mut jobs: Vec<u64> = self
            .downloads
            .iter()
            .filter(|(_, d)| d.name == name || d.dest == name)
            .map(|(job, _)| *job)
            .collect();
        jobs.sort_unstable();
        let mut stopped = 0;
        for job in jobs {
            if let Some(d) = self.downloads.remove(&job) {
                stopped += 1;
                out.push(Action::CancelDownload(job));
                out.push(fetch_failed(
                    d.id,
                    Status::BAD_REQUEST,
                    &format!(
                        "cancelled; the partial file of {} is kept: fetch again to resume",
                        d.dest
                    ),
                ));
            }
        }
        for p in self.pending.values_mut() {
            if let Then::Fetch(r) = &mut p.then {
                if (r.name == name || r.dest == name) && !r.cancelled {
                    r.cancelled = true;
                    stopped += 1;
                }
            }
        }
        let mut store: Vec<u64> = self
            .store_jobs
            .iter()
            .filter(|(_, j)| j.name == name || j.dest.as_deref() == Some(name))
            .map(|(job, _)| *job)
            .collect();
        store.sort_unstable();
        for job in store {
            if let Some(j) = self.store_jobs.remove(&job) {
                stopped += 1;
                out.push(Action::CancelStore(job));
                let (command, left) = if j.upload {
                    ("upload", "nothing was stored")
                } else {
                    ("download", "nothing was written to the destination")
                };
                out.push(Action::Result(
                    CommandResult::new(
                        j.id,
                        command,
                        false,
                        Status::BAD_REQUEST.0,
                        format!("cancelled; {left}"),
                    )
                    .field("name", j.name.as_str()),
                ));
            }
        }
        out.push(Action::Result(if stopped > 0 {
            CommandResult::new(
                id,
                "cancel",
                true,
                Status::OK.0,
                format!("cancelled the transfer of {name}"),
            )
        } else {
            CommandResult::new(
                id,
                "cancel",
                false,
                Status::NO_FILE.0,
                format!("no fetch, upload or download of {name} is in progress"),
            )
        }));
    }
}
