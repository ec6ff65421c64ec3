//! Matching URIs against RFC 6570 level-1 templates (`test://items/{id}`).
//!
//! Level 1 is what MCP resource templates use in practice: literal text and `{name}`
//! expressions. A variable matches one or more characters up to the next literal, and never
//! a `/` — so `a/{x}/b` does not match `a/1/2/b`.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parses `template`; refuses unbalanced braces, empty names, operators (`{+x}`, level 2+)
    /// and two variables with no literal between them (ambiguous).
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}').ok_or("unclosed '{'")?;
                    let name = &rest[1..end];
                    if name.is_empty() {
                        return Err("empty variable name".into());
                    }
                    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(format!(
                            "unsupported expression {{{name}}} (only level-1 {{name}})"
                        ));
                    }
                    if matches!(parts.last(), Some(Part::Var(_))) {
                        return Err("two variables with no literal between them".into());
                    }
                    parts.push(Part::Var(name.to_owned()));
                    rest = &rest[end + 1..];
                }
                Some(i) => {
                    let lit = &rest[..i];
                    if lit.contains('}') {
                        return Err("unmatched '}'".into());
                    }
                    parts.push(Part::Literal(lit.to_owned()));
                    rest = &rest[i..];
                }
                None => {
                    if rest.contains('}') {
                        return Err("unmatched '}'".into());
                    }
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        Ok(Self { parts })
    }

    /// The variables `uri` binds, or `None` if it does not match.
    pub fn matches(&self, uri: &str) -> Option<HashMap<String, String>> {
        let mut vars = HashMap::new();
        let mut rest = uri;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
                Part::Var(name) => {
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || value.contains('/') {
                        return None;
                    }
                    vars.insert(name.clone(), value.to_owned());
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_level_one_templates() {
        let t = UriTemplate::parse("test://template/{id}/data").unwrap();
        let vars = t.matches("test://template/42/data").unwrap();
        assert_eq!(vars["id"], "42");
        assert!(t.matches("test://template//data").is_none());
        assert!(t.matches("test://template/4/2/data").is_none());
        assert!(t.matches("test://template/42/datum").is_none());
        let tail = UriTemplate::parse("mcpflow://agents/{id}").unwrap();
        assert_eq!(tail.matches("mcpflow://agents/a-1").unwrap()["id"], "a-1");
        assert!(tail.matches("mcpflow://agents/").is_none());
    }

    #[test]
    fn refuses_what_it_cannot_match_unambiguously() {
        assert!(UriTemplate::parse("x://{a}{b}").is_err());
        assert!(UriTemplate::parse("x://{a").is_err());
        assert!(UriTemplate::parse("x://a}").is_err());
        assert!(UriTemplate::parse("x://{+path}").is_err());
        assert!(UriTemplate::parse("x://{}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn round_trips_any_segment_value(v in "[A-Za-z0-9._~-]{1,20}") {
            let t = UriTemplate::parse("x://a/{v}/b").unwrap();
            let uri = format!("x://a/{v}/b");
            let vars = t.matches(&uri);
            proptest::prop_assert_eq!(vars.map(|m| m["v"].clone()), Some(v));
        }

        #[test]
        fn never_panics_on_arbitrary_input(s in ".{0,40}", u in ".{0,40}") {
            if let Ok(t) = UriTemplate::parse(&s) {
                let _ = t.matches(&u);
            }
        }
    }
}
