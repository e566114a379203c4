//! The assets of a web interface, embedded in the binary: plain HTML, CSS and
//! JavaScript (ES modules, no build step, nothing fetched from anywhere else), found
//! by exact path only, so no request can name a file outside them.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// A page: its files, the first being the one `/` serves.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub assets: &'static [Asset],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// An embedded JavaScript module served at `$path`, from `$file` (relative to `src/web/`).
macro_rules! module {
    ($path:literal, $file:expr) => {
        Asset {
            path: $path,
            content_type: JS,
            bytes: include_bytes!($file),
        }
    };
}

/// A page of `$dir` (its `index.html`, `app.js` and the further modules `$path` from
/// `$file`), with the files every page shares: drawing helpers, notifications, the
/// WebSocket link and the style.
macro_rules! page {
    ($dir:literal $(, $path:literal => $file:literal)* $(,)?) => {
        Page {
            assets: &[
                Asset {
                    path: "/",
                    content_type: HTML,
                    bytes: include_bytes!(concat!($dir, "/index.html")),
                },
                module!("/app.js", concat!($dir, "/app.js")),
                $(module!($path, $file),)*
                module!("/dom.js", "common/dom.js"),
                module!("/notify.js", "common/notify.js"),
                module!("/link.js", "common/link.js"),
                Asset {
                    path: "/style.css",
                    content_type: CSS,
                    bytes: include_bytes!("common/style.css"),
                },
            ],
        }
    };
}

/// The peer's page (`client --web`).
pub const PEER: Page = page!(
    "peer",
    "/act.js" => "peer/act.js",
    "/chat.js" => "peer/chat.js",
    "/people.js" => "peer/people.js",
    "/share.js" => "peer/share.js",
    "/store.js" => "peer/store.js",
    "/transfers.js" => "peer/transfers.js",
);
/// The hub operator's page (`server --web`).
pub const HUB: Page = page!("hub");

impl Page {
    /// The file at exactly `path`.
    pub fn get(&self, path: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_paths_name_a_file() {
        assert_eq!(PEER.get("/").unwrap().content_type, HTML);
        assert!(PEER.get("/app.js").is_some());
        assert!(PEER.get("/chat.js").is_some());
        assert!(
            HUB.get("/chat.js").is_none(),
            "the peer's modules are the peer's"
        );
        for path in [
            "/../Cargo.toml",
            "/app.js/",
            "/APP.JS",
            "//app.js",
            "/index.html",
            "",
        ] {
            assert!(PEER.get(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_pages_fetch_nothing_from_elsewhere() {
        for asset in PEER.assets.iter().chain(HUB.assets) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for foreign in ["http://", "https://", "//cdn", "@import url("] {
                assert!(!text.contains(foreign), "{} has {foreign}", asset.path);
            }
        }
    }
}
