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

/// A page of `$dir` (its `index.html` and `app.js`), with the files every page
/// shares: drawing helpers, the WebSocket link and the style.
macro_rules! page {
    ($dir:literal) => {
        Page {
            assets: &[
                Asset {
                    path: "/",
                    content_type: HTML,
                    bytes: include_bytes!(concat!($dir, "/index.html")),
                },
                Asset {
                    path: "/app.js",
                    content_type: JS,
                    bytes: include_bytes!(concat!($dir, "/app.js")),
                },
                Asset {
                    path: "/dom.js",
                    content_type: JS,
                    bytes: include_bytes!("common/dom.js"),
                },
                Asset {
                    path: "/link.js",
                    content_type: JS,
                    bytes: include_bytes!("common/link.js"),
                },
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
pub const PEER: Page = page!("peer");
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
