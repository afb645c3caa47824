//! Plain HTTP on the WebSocket port: the `--console` page and `--static`
//! files, answered from the library's handshake hook.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use tinyws::{Action, Reply, Request, Upgrade};

/// The page `--console` serves at `/`.
const CONSOLE: &str = include_str!("console.html");

/// What plain HTTP requests get.
#[derive(Debug)]
pub(crate) struct Site {
    /// The `--static` directory, canonical, so every path served can be
    /// checked to lie inside it.
    root: Option<PathBuf>,
    console: bool,
    /// Whether names starting with `.` (`.env`, `.git/`) are served.
    dotfiles: bool,
}

/// Why a URL path is not served: the status and its one-line body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    BadRequest,
    Forbidden,
    NotFound,
}

/// Where a URL path leads.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    File(PathBuf),
    /// A directory named without its trailing `/`: relative links in its
    /// index.html would resolve against the parent, so it is redirected.
    Directory,
}

impl Site {
    /// # Errors
    /// When `static_dir` is not a readable directory.
    pub(crate) fn new(
        static_dir: Option<&Path>,
        console: bool,
        dotfiles: bool,
    ) -> io::Result<Site> {
        let root = match static_dir {
            Some(dir) => {
                let root = dir.canonicalize()?;
                if !root.is_dir() {
                    return Err(io::Error::new(io::ErrorKind::Other, "not a directory"));
                }
                Some(root)
            }
            None => None,
        };
        Ok(Site {
            root,
            console,
            dotfiles,
        })
    }

    /// The handshake hook: upgrades go ahead; plain requests get the console
    /// or a file, or the library's 426 when there is nothing to serve.
    pub(crate) fn answer(&self, req: &Request) -> Action {
        if req.is_upgrade() || (self.root.is_none() && !self.console) {
            return Upgrade::new().into();
        }
        match req.method() {
            // The library sends a HEAD the same headers without the body.
            "GET" | "HEAD" => {}
            _ => {
                return Reply::text(405, "only GET and HEAD\n")
                    .header("Allow", "GET, HEAD")
                    .into()
            }
        };
        if self.console && req.path() == "/" {
            return Reply::html(CONSOLE)
                .header("Cache-Control", "no-cache")
                .into();
        }
        let root = match &self.root {
            Some(root) => root,
            None => return Reply::text(404, "not found\n").into(),
        };
        match resolve(root, req.path(), self.dotfiles) {
            Ok(Found::File(path)) => serve_file(&path, req),
            Ok(Found::Directory) => redirect_to_directory(req),
            Err(refusal) => refusal.response(),
        }
        .into()
    }
}

impl Refusal {
    fn response(self) -> Reply {
        match self {
            Refusal::BadRequest => Reply::text(400, "bad request\n"),
            Refusal::Forbidden => Reply::text(403, "forbidden\n"),
            Refusal::NotFound => Reply::text(404, "not found\n"),
        }
    }
}

/// `/dir` to `/dir/`, keeping the query. Leading slashes are collapsed so
/// that `//example.com` cannot become a redirect to another site.
fn redirect_to_directory(req: &Request) -> Reply {
    let mut location = format!("/{}/", req.path().trim_start_matches(['/', '\\']));
    if let Some(query) = req.query() {
        location.push('?');
        location.push_str(query);
    }
    Reply::text(301, "moved\n").header("Location", location)
}

/// A file, sent in chunks as the client reads (the library's
/// `Reply::file`): memory per request stays at one chunk whatever the
/// file's size. A HEAD, or a request whose copy is still fresh (304), does
/// not read it at all.
fn serve_file(path: &Path, req: &Request) -> Reply {
    let opened = fs::File::open(path).and_then(|f| Ok((f.metadata()?, f)));
    let (meta, file) = match opened {
        Ok(found) => found,
        Err(e) => {
            log::warn!("cannot read {}: {}", path.display(), e);
            return Refusal::NotFound.response();
        }
    };
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    // Modification time and size, as most servers use; the nanoseconds tell
    // apart two versions written within one second.
    let etag = match modified {
        Some(m) => format!(
            "\"{:x}.{:x}-{:x}\"",
            m.as_secs(),
            m.subsec_nanos(),
            meta.len()
        ),
        None => format!("\"{:x}\"", meta.len()),
    };
    let mut headers = vec![
        ("ETag", etag.clone()),
        ("Cache-Control", "no-cache".to_owned()),
    ];
    if let Some(m) = modified {
        headers.push(("Last-Modified", http_date(m.as_secs())));
    }
    let fresh = is_fresh(req, &etag, modified.map(|m| m.as_secs()));
    let mut response = Reply::new(if fresh { 304 } else { 200 });
    for (name, value) in headers {
        response = response.header(name, value);
    }
    if fresh {
        return response;
    }
    response
        .header("Content-Type", content_type(path))
        .header("X-Content-Type-Options", "nosniff")
        .file(file, meta.len())
}

/// Whether the client's cached copy is current (RFC 9110 section 13.1):
/// If-None-Match, when sent, decides alone; otherwise If-Modified-Since.
fn is_fresh(req: &Request, etag: &str, modified: Option<u64>) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if let Some(tags) = req.header("If-None-Match") {
        return tags
            .split(',')
            .any(|t| t.trim() == "*" || weak(t) == weak(etag));
    }
    match (
        req.header("If-Modified-Since").and_then(parse_http_date),
        modified,
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// Maps a URL path to a regular file inside `root`, a directory to
/// redirect to, or the refusal. `..` segments (also percent-encoded) are
/// refused outright; symlinks are followed and the result must still lie
/// inside `root`. Names starting with `.` are not found unless `dotfiles`.
pub(crate) fn resolve(root: &Path, url_path: &str, dotfiles: bool) -> Result<Found, Refusal> {
    let decoded = percent_decode(url_path.as_bytes()).ok_or(Refusal::BadRequest)?;
    if !decoded.starts_with(b"/") || decoded.contains(&0) {
        return Err(Refusal::BadRequest);
    }
    let mut path = root.to_path_buf();
    for segment in decoded.split(|b| *b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err(Refusal::Forbidden),
            hidden if hidden.starts_with(b".") && !dotfiles => return Err(Refusal::NotFound),
            name => path.push(OsStr::from_bytes(name)),
        }
    }
    let mut found = inside(root, &path, dotfiles)?;
    if found.is_dir() {
        if !decoded.ends_with(b"/") {
            return Ok(Found::Directory);
        }
        found = inside(root, &found.join("index.html"), dotfiles)?;
    }
    if found.is_file() {
        Ok(Found::File(found))
    } else {
        // Devices, sockets and FIFOs are never served: a FIFO would block.
        Err(Refusal::NotFound)
    }
}

/// The canonical form of `path`, which must exist and lie inside `root`,
/// and, unless `dotfiles`, not be reached through a symlink to a hidden name.
fn inside(root: &Path, path: &Path, dotfiles: bool) -> Result<PathBuf, Refusal> {
    let canonical = path.canonicalize().map_err(|_| Refusal::NotFound)?;
    let relative = match canonical.strip_prefix(root) {
        Ok(relative) => relative,
        Err(_) => {
            log::warn!("refused {}: outside the static directory", path.display());
            return Err(Refusal::Forbidden);
        }
    };
    let hidden = |c: Component<'_>| c.as_os_str().as_bytes().starts_with(b".");
    if !dotfiles && relative.components().any(hidden) {
        return Err(Refusal::NotFound);
    }
    Ok(canonical)
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since 1970 as an HTTP date (RFC 9110 section 5.6.7):
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(secs: u64) -> String {
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let t = secs % 86_400;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Reads the IMF-fixdate form that every current client sends; the
/// obsolete forms are ignored, which only costs a full answer.
fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if let [_, day, month, year, time, "GMT"] = parts[..] {
        let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
        let day: u64 = day.parse().ok()?;
        let year: u64 = year.parse().ok()?;
        let hms: Vec<u64> = time
            .split(':')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        if !(1970..10_000).contains(&year) || !(1..=31).contains(&day) || hms.len() != 3 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        return Some(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]);
    }
    None
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`, for dates from 1970 on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`], for years from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// Decodes `%XX` escapes; `None` for a malformed one.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("wasm") => "application/wasm",
        Some("csv") => "text/csv; charset=utf-8",
        Some("pdf") => "application/pdf",
        Some("xml") => "application/xml",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("webmanifest") => "application/manifest+json",
        Some("map") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"/a%20b").unwrap(), b"/a b");
        assert_eq!(percent_decode(b"/%2e%2E/x").unwrap(), b"/../x");
        assert!(percent_decode(b"/%zz").is_none());
        assert!(percent_decode(b"/%2").is_none());
    }

    #[test]
    fn traversal_is_refused_before_touching_the_disk() {
        let root = Path::new("/nonexistent-tinyws-root");
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/etc/passwd",
            "/%2E%2e",
        ] {
            assert_eq!(resolve(root, bad, true), Err(Refusal::Forbidden), "{}", bad);
        }
        for bad in ["etc/passwd", "/a%00b", "/%"] {
            assert_eq!(
                resolve(root, bad, true),
                Err(Refusal::BadRequest),
                "{}",
                bad
            );
        }
        for hidden in ["/.env", "/.git/config", "/a/.b/c", "/%2eenv"] {
            assert_eq!(
                resolve(root, hidden, false),
                Err(Refusal::NotFound),
                "{}",
                hidden
            );
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
        assert_eq!(http_date(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        for secs in (0..5_000_000_000_u64).step_by(86_399 * 37) {
            assert_eq!(parse_http_date(&http_date(secs)), Some(secs), "{}", secs);
        }
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            assert_eq!(parse_http_date(bad), None, "{}", bad);
        }
    }

    #[test]
    fn content_types() {
        for (file, ty) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.JS", "text/javascript; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.pdf", "application/pdf"),
            ("a.woff2", "font/woff2"),
            ("site.webmanifest", "application/manifest+json"),
            ("app.js.map", "application/json"),
            ("Makefile", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(file)), ty);
        }
    }
}
