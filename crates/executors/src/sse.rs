//! An incremental parser for server-sent events (the WHATWG `text/event-stream` format), as
//! both LLM providers stream with.
//!
//! Bytes arrive in arbitrary chunks — a line, a field name or a multi-byte character may be
//! split anywhere — so the parser keeps the unfinished line and yields an event at each blank
//! line. Lines end with LF, CRLF or a lone CR; `:` starts a comment; `data` lines join with
//! `\n`; one leading space after the colon is dropped; a leading BOM is ignored. An event
//! longer than the limit is an error rather than unbounded memory.

use memchr::memchr2;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An event (or line) grew past the parser's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event larger than {limit} bytes")]
pub struct TooLarge {
    /// The limit.
    pub limit: usize,
}

/// Turns chunks of an event stream into [`SseEvent`]s.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    // A CR ended the previous chunk: an LF starting the next one belongs to it.
    after_cr: bool,
    at_start: bool,
    limit: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(16 << 20)
    }
}

impl SseParser {
    /// A parser refusing events (and lines) over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            event: String::new(),
            data: String::new(),
            has_data: false,
            after_cr: false,
            at_start: true,
            limit,
        }
    }

    /// Feeds the next chunk; `emit` receives every event it completes.
    pub fn feed(
        &mut self,
        mut chunk: &[u8],
        mut emit: impl FnMut(SseEvent),
    ) -> Result<(), TooLarge> {
        if self.after_cr && !chunk.is_empty() {
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
            self.after_cr = false;
        }
        while let Some(end) = memchr2(b'\n', b'\r', chunk) {
            let head = &chunk[..end];
            if self.line.is_empty() {
                self.process_line(head, &mut emit)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.process_line(&line, &mut emit)?;
                line.clear();
                self.line = line;
            }
            let crlf = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if self.line.len() + chunk.len() + self.data.len() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    fn process_line(
        &mut self,
        line: &[u8],
        emit: &mut impl FnMut(SseEvent),
    ) -> Result<(), TooLarge> {
        let mut line = line;
        if std::mem::take(&mut self.at_start) {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            if self.has_data {
                let event = if self.event.is_empty() {
                    "message".to_owned()
                } else {
                    std::mem::take(&mut self.event)
                };
                emit(SseEvent {
                    event,
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    return Err(TooLarge { limit: self.limit });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            // `id` and `retry` matter to browsers reconnecting; a provider stream is not resumed.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            parser.feed(c, |e| out.push(e)).unwrap();
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn fields_comments_and_line_endings() {
        let stream = b"\xEF\xBB\xBF: keep-alive\r\nevent: delta\r\ndata: {\"a\":1}\r\n\r\ndata:x\rdata:  y\r\rdata\n\nevent: empty\n\nid: 7\ndata: last\n\n";
        assert_eq!(
            parse_chunks(&[stream]),
            vec![
                ev("delta", "{\"a\":1}"),
                ev("message", "x\n y"),
                ev("message", ""),
                ev("message", "last"),
            ]
        );
    }

    #[test]
    fn an_unfinished_event_is_not_emitted() {
        assert_eq!(
            parse_chunks(&[b"data: a\n\ndata: b\n"]),
            vec![ev("message", "a")]
        );
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut parser = SseParser::new(64);
        let big = format!("data: {}\n", "x".repeat(40));
        parser.feed(big.as_bytes(), |_| {}).unwrap();
        assert_eq!(
            parser.feed(big.as_bytes(), |_| {}),
            Err(TooLarge { limit: 64 })
        );
        let mut parser = SseParser::new(64);
        assert!(parser.feed(&[b'x'; 100], |_| {}).is_err());
    }

    proptest! {
        /// However the bytes are split, the events are the same.
        #[test]
        fn chunking_does_not_matter(
            events in prop::collection::vec(("[a-z_]{0,8}", "[ -~é€😀]{0,40}"), 0..8),
            eol in prop::sample::select(vec!["\n", "\r\n", "\r"]),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut text = String::new();
            for (name, data) in &events {
                if !name.is_empty() {
                    text.push_str(&format!("event: {name}{eol}"));
                }
                for line in data.split('\n') {
                    text.push_str(&format!("data: {line}{eol}"));
                }
                text.push_str(eol);
            }
            let bytes = text.as_bytes();
            let whole = parse_chunks(&[bytes]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for p in points {
                chunks.push(&bytes[at..p]);
                at = p;
            }
            chunks.push(&bytes[at..]);
            prop_assert_eq!(parse_chunks(&chunks), whole.clone());
            let expected: Vec<SseEvent> = events
                .iter()
                .map(|(n, d)| ev(if n.is_empty() { "message" } else { n }, d))
                .collect();
            prop_assert_eq!(whole, expected);
        }

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn garbage_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut parser = SseParser::new(256);
            for c in &chunks {
                let _ = parser.feed(c, |_| {});
            }
        }
    }
}
