//! Minimal W3C trace context: enough to follow one job across services by its trace id.

use rand::Rng;

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn span_id() -> String {
    hex(&rand::rng().random::<[u8; 8]>())
}

/// A new trace: `00-<trace id>-<span id>-01`.
pub(crate) fn new_root() -> String {
    format!(
        "00-{}-{}-01",
        hex(&rand::rng().random::<[u8; 16]>()),
        span_id()
    )
}

/// A child span of `parent`, keeping its trace id; a malformed parent starts a new trace.
pub(crate) fn child_of(parent: &str) -> String {
    match parent.split('-').collect::<Vec<_>>().as_slice() {
        ["00", trace_id, _, flags] if trace_id.len() == 32 => {
            format!("00-{trace_id}-{}-{flags}", span_id())
        }
        _ => new_root(),
    }
}

/// The trace id of a traceparent, for log fields.
pub fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_keeps_trace_id_and_changes_span() {
        let root = new_root();
        let child = child_of(&root);
        assert_eq!(trace_id(&root), trace_id(&child));
        assert_ne!(root, child);
        assert_eq!(child.len(), 55);
    }

    #[test]
    fn malformed_parent_starts_new_trace() {
        assert_eq!(child_of("garbage").len(), 55);
    }
}
