//! `ws://` and `wss://` URLs (RFC 6455 section 3): scheme, host (an IPv6
//! literal in brackets), port with the scheme's default, and the resource
//! name (path and query) that goes on the request line.
//!
//! Pure: no name resolution happens here.

use std::fmt;
use std::net::Ipv6Addr;

/// A WebSocket URL, split into what the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// `wss://`: the connection runs over TLS.
    pub(crate) secure: bool,
    /// The host without brackets: `example.com`, `192.168.1.20` or `::1`.
    pub(crate) host: String,
    /// The port, 80 or 443 when the URL names none.
    pub(crate) port: u16,
    /// Path and query, as sent on the request line: `/feed?token=abc`.
    pub(crate) resource: String,
}

/// Why a URL was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlError(pub(crate) &'static str);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Url {
    /// Parses `ws://host[:port][/path][?query]` or the same with `wss://`.
    /// The scheme is case-insensitive; a fragment, user information, spaces
    /// or non-ASCII characters are refused (RFC 6455 section 3: "fragment
    /// identifiers are meaningless in the context of WebSocket URIs").
    pub(crate) fn parse(url: &str) -> Result<Url, UrlError> {
        let fail = |why| Err(UrlError(why));
        if url.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return fail("url holds spaces, control or non-ascii characters (percent-encode them)");
        }
        let (scheme, rest) = match url.split_once("://") {
            Some(parts) => parts,
            None => return fail("url must start with ws:// or wss://"),
        };
        let (secure, default_port) = if scheme.eq_ignore_ascii_case("ws") {
            (false, 80)
        } else if scheme.eq_ignore_ascii_case("wss") {
            (true, 443)
        } else {
            return fail("unsupported scheme: only ws:// and wss://");
        };
        if rest.contains('#') {
            return fail("a websocket url may not have a fragment (#)");
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        if authority.contains('@') {
            return fail("user information (user@host) is not supported in a websocket url");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = match v6.split_once(']') {
                Some(parts) => parts,
                None => return fail("unclosed [ in an ipv6 host"),
            };
            if inside.parse::<Ipv6Addr>().is_err() {
                return fail("invalid ipv6 address in brackets");
            }
            match after {
                "" => (inside, None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (inside, Some(p)),
                    None => return fail("unexpected characters after an ipv6 host"),
                },
            }
        } else if authority.matches(':').count() > 1 {
            return fail("an ipv6 address must be in brackets: ws://[::1]:port/");
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return fail("url has no host");
        }
        if !authority.starts_with('[')
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return fail("invalid character in the host name");
        }
        let port = match port {
            // RFC 3986 section 3.2.3: an empty port means the default.
            None | Some("") => default_port,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return fail("port must be 1 to 65535"),
                Ok(n) => n,
            },
            Some(_) => return fail("port must be a number"),
        };
        let resource = if resource.starts_with('?') {
            format!("/{}", resource)
        } else if resource.is_empty() {
            "/".to_owned()
        } else {
            resource.to_owned()
        };
        Ok(Url {
            secure,
            host: host.to_owned(),
            port,
            resource,
        })
    }

    fn default_port(&self) -> u16 {
        if self.secure {
            443
        } else {
            80
        }
    }

    /// The Host header's value (RFC 9110 section 7.2): brackets around an
    /// IPv6 literal, and the port only when it is not the scheme's default.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{}:{}", host, self.port)
        }
    }
}

/// Shows the URL without its query, which often carries a token: logs and
/// error messages must not leak it. `ws://relay:8080/publish?…`.
impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        let path = match self.resource.split_once('?') {
            Some((path, _)) => return write!(f, "{}://{}{}?…", scheme, self.host_header(), path),
            None => &self.resource,
        };
        write!(f, "{}://{}{}", scheme, self.host_header(), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! parses {
        ($($name:ident: $url:expr => ($secure:expr, $host:expr, $port:expr, $resource:expr, $header:expr);)*) => {
            $(
                #[test]
                fn $name() {
                    let url = Url::parse($url).unwrap();
                    assert_eq!(
                        (url.secure, url.host.as_str(), url.port, url.resource.as_str()),
                        ($secure, $host, $port, $resource)
                    );
                    assert_eq!(url.host_header(), $header);
                }
            )*
        };
    }

    parses! {
        plain: "ws://example.com" => (false, "example.com", 80, "/", "example.com");
        slash: "ws://example.com/" => (false, "example.com", 80, "/", "example.com");
        secure_default_port: "wss://example.com/feed" => (true, "example.com", 443, "/feed", "example.com");
        explicit_default_port: "ws://example.com:80/a" => (false, "example.com", 80, "/a", "example.com");
        other_port: "ws://relay:8080/publish?token=abc" => (false, "relay", 8080, "/publish?token=abc", "relay:8080");
        secure_port_80: "wss://h:80/" => (true, "h", 80, "/", "h:80");
        query_only: "ws://h?x=1" => (false, "h", 80, "/?x=1", "h");
        empty_port: "ws://h:/a" => (false, "h", 80, "/a", "h");
        ipv4: "ws://192.168.1.20:9001/" => (false, "192.168.1.20", 9001, "/", "192.168.1.20:9001");
        ipv6: "ws://[::1]:9001/x" => (false, "::1", 9001, "/x", "[::1]:9001");
        ipv6_default_port: "wss://[fe80::1]" => (true, "fe80::1", 443, "/", "[fe80::1]");
        upper_scheme: "WS://Host.Example/" => (false, "Host.Example", 80, "/", "Host.Example");
        percent_path: "ws://h/a%20b?q=%C3%A9" => (false, "h", 80, "/a%20b?q=%C3%A9", "h");
    }

    macro_rules! refuses {
        ($($name:ident: $url:expr => $why:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let err = Url::parse($url).unwrap_err();
                    assert!(err.0.contains($why), "{:?}: {}", $url, err);
                }
            )*
        };
    }

    refuses! {
        http: "http://example.com/" => "only ws:// and wss://";
        no_scheme: "example.com:80" => "must start with ws://";
        empty: "" => "must start with ws://";
        fragment: "ws://h/a#b" => "fragment";
        userinfo: "ws://user:pw@h/" => "user information";
        no_host: "ws:///path" => "no host";
        no_host_port: "ws://:80/" => "no host";
        port_zero: "ws://h:0/" => "1 to 65535";
        port_big: "ws://h:65536/" => "1 to 65535";
        port_text: "ws://h:http/" => "must be a number";
        port_sign: "ws://h:+80/" => "must be a number";
        space: "ws://h/a b" => "spaces";
        non_ascii: "ws://h/é" => "non-ascii";
        unclosed_v6: "ws://[::1/" => "unclosed";
        bad_v6: "ws://[not:an:addr]/" => "invalid ipv6";
        v6_junk: "ws://[::1]x/" => "after an ipv6 host";
        bad_host_char: "ws://a,b/" => "invalid character";
        bare_v6: "ws://::1/" => "in brackets";
    }

    #[test]
    fn display_hides_the_query() {
        for (s, shown) in [
            ("ws://h", "ws://h/"),
            ("wss://[::1]:8443/a", "wss://[::1]:8443/a"),
            ("ws://relay:8080/p?token=secret", "ws://relay:8080/p?…"),
        ] {
            assert_eq!(Url::parse(s).unwrap().to_string(), shown);
        }
    }
}
