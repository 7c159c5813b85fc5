//! Which browser origins may call the API and the socket gateway (`CORS_ORIGINS`).

use std::str::FromStr;

use axum::http::{header, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// The default: the panel's, i.e. any origin on the panel's port, whatever name the
    /// machine is reached by (`localhost`, its address, a LAN name).
    Panel,
    /// `*`: every origin (mirrored, so socket.io v2's credentialed polling works).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<HeaderValue>),
}

impl FromStr for CorsOrigins {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::Panel);
        }
        if raw == "*" {
            return Ok(Self::Any);
        }
        raw.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()
            .map(Self::List)
    }
}

/// `https://panel.example.com[:port]`: a scheme, a host, no path.
fn parse_origin(origin: &str) -> Result<HeaderValue, String> {
    let refuse =
        |why: &str| format!("{origin:?} is not an origin ({why}); write scheme://host[:port]");
    let url = reqwest::Url::parse(origin).map_err(|_| refuse("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse("it needs http or https and a host"));
    }
    if url.path() != "/" || url.query().is_some() || origin.ends_with('/') {
        return Err(refuse("it has a path"));
    }
    HeaderValue::from_str(origin).map_err(|_| refuse("not a header value"))
}

impl CorsOrigins {
    fn allow_origin(&self, panel_port: u16) -> AllowOrigin {
        match self {
            Self::Panel => AllowOrigin::predicate(move |origin, _| on_port(origin, panel_port)),
            Self::Any => AllowOrigin::mirror_request(),
            Self::List(origins) => AllowOrigin::list(origins.clone()),
        }
    }

    /// The API's CORS: its methods and the headers the panel sends and reads.
    pub fn api_layer(&self, panel_port: u16) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(self.allow_origin(panel_port))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            // The panel pages with `Link` and waits as `Retry-After` says.
            .expose_headers([header::LINK, header::RETRY_AFTER])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                "traceparent".parse().expect("valid header name"),
                "idempotency-key".parse().expect("valid header name"),
            ])
    }

    /// The gateway's CORS: socket.io v2 clients poll with credentials by default, which
    /// browsers allow only with the origin named, never `*`.
    pub fn socket_layer(&self, panel_port: u16) -> CorsLayer {
        CorsLayer::very_permissive().allow_origin(self.allow_origin(panel_port))
    }
}

fn on_port(origin: &HeaderValue, port: u16) -> bool {
    origin
        .to_str()
        .ok()
        .and_then(|origin| reqwest::Url::parse(origin).ok())
        .is_some_and(|url| url.port_or_known_default() == Some(port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_strictly() {
        assert_eq!("".parse(), Ok(CorsOrigins::Panel));
        assert_eq!(" * ".parse(), Ok(CorsOrigins::Any));
        assert_eq!(
            "https://a.example, http://localhost:3000".parse(),
            Ok(CorsOrigins::List(vec![
                HeaderValue::from_static("https://a.example"),
                HeaderValue::from_static("http://localhost:3000"),
            ]))
        );
        for bad in [
            "a.example",
            "ftp://a.example",
            "https://a.example/panel",
            "https://a.example/",
        ] {
            let error = bad.parse::<CorsOrigins>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn the_panel_default_takes_any_host_on_the_panel_port() {
        let on = |origin: &'static str| on_port(&HeaderValue::from_static(origin), 9090);
        assert!(on("http://localhost:9090"));
        assert!(on("http://192.168.1.20:9090"));
        assert!(!on("http://localhost:3000"));
        assert!(!on("https://evil.example"));
        assert!(!on("null"));
    }
}
