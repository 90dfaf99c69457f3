//! Evidence for joins by time: the short values a request carried (URL path segments, query
//! values, scalar fields of a gRPC message) and the literals and shape of an SQL statement.
//!
//! Takes span attributes; gives small bounded sets of values, so that a call made while several
//! requests were being handled can be told apart by what the request asked for.

/// At most this many values are kept per span: a sample, never a whole body.
pub const MAX_VALUES: usize = 16;
/// A longer value is not an identifier.
pub const MAX_VALUE_LEN: usize = 64;

/// A bounded, duplicate-free set of short values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Values(Vec<String>);

impl Values {
    pub fn push(&mut self, v: &str) {
        if v.is_empty() || v.len() > MAX_VALUE_LEN || self.0.len() >= MAX_VALUES {
            return;
        }
        if !self.0.iter().any(|x| x == v) {
            self.0.push(v.to_owned());
        }
    }

    pub fn contains(&self, v: &str) -> bool {
        self.0.iter().any(|x| x == v)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes away every value `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|v| keep(v));
    }
}

/// Whether finding `v` in both a request and a call says anything: not the values that every
/// kind of request and statement is full of (flags, first pages, limits of one, empty text).
pub fn telling(v: &str) -> bool {
    !matches!(
        v.to_ascii_lowercase().as_str(),
        "0" | "1" | "true" | "false" | "yes" | "no" | "null" | "none" | "y" | "n"
    )
}

/// `%XX` and `+` of a URL component, decoded; undecodable text stays as it is.
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, escaped) {
            (_, Some(d)) => {
                out.push(d);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path segments and query values of a request target: a path, `path?query`, a bare
/// query or a whole URL.
pub fn url_values(target: &str, out: &mut Values) {
    let target = target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // A whole URL: the authority is not something the request asked for.
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => path,
    };
    for segment in path.split('/') {
        out.push(&percent_decode(segment));
    }
    query_values(query, out);
}

/// The values of an `a=1&b=x` query string.
pub fn query_values(query: &str, out: &mut Values) {
    for pair in query.split('&') {
        let value = pair.split_once('=').map_or("", |(_, v)| v);
        out.push(&percent_decode(value));
    }
}

/// The quoted strings and standalone numbers of an SQL statement.
pub fn sql_literals(sql: &str, out: &mut Values) {
    scan_sql(sql, |token| {
        if let SqlToken::Literal(v) = token {
            out.push(v);
        }
    });
}

/// The statement with every literal and placeholder (`?`, `%s`, `%(name)s`, `$1`, `:name`)
/// made `?`, white space folded and letters in lower case: the same for a driver's
/// parameterised text and the SQL it sent.
pub fn sql_shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    scan_sql(sql, |token| match token {
        SqlToken::Literal(_) | SqlToken::Placeholder => out.push('?'),
        SqlToken::Space => {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        }
        SqlToken::Text(t) => out.extend(t.chars().map(|c| c.to_ascii_lowercase())),
    });
    out.trim_end().to_owned()
}

enum SqlToken<'a> {
    Literal(&'a str),
    Placeholder,
    Space,
    Text(&'a str),
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

fn scan_sql<'a>(sql: &'a str, mut emit: impl FnMut(SqlToken<'a>)) {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let rest = sql.get(i..).unwrap_or("");
        let start = i;
        if b == b'\'' || b == b'"' {
            // A quoted string; a doubled quote stands for one inside it.
            let mut j = i + 1;
            while let Some(&c) = bytes.get(j) {
                if c == b'\\' {
                    j += 2;
                    continue;
                }
                if c == b {
                    if bytes.get(j + 1) == Some(&b) {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            emit(SqlToken::Literal(
                sql.get(i + 1..j.min(sql.len())).unwrap_or(""),
            ));
            i = j + 1;
        } else if b.is_ascii_digit() {
            let mut j = i;
            while bytes
                .get(j)
                .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
            {
                j += 1;
            }
            emit(SqlToken::Literal(sql.get(i..j).unwrap_or("")));
            i = j;
        } else if is_word(b) {
            // A word (keyword, name, `t1`): its digits are not a number.
            let mut j = i;
            while bytes.get(j).copied().is_some_and(is_word) {
                j += 1;
            }
            let word = sql.get(i..j).unwrap_or("");
            let numbered = word.len() > 1
                && word.starts_with('$')
                && word.bytes().skip(1).all(|c| c.is_ascii_digit());
            if numbered {
                emit(SqlToken::Placeholder);
            } else {
                emit(SqlToken::Text(word));
            }
            i = j;
        } else if b == b'?' {
            emit(SqlToken::Placeholder);
            i += 1;
        } else if rest.starts_with("%s") {
            emit(SqlToken::Placeholder);
            i += 2;
        } else if rest.starts_with("%(") {
            let close = rest.find(")s").map_or(rest.len(), |k| k + 2);
            emit(SqlToken::Placeholder);
            i += close;
        } else if b == b':' && bytes.get(i + 1).copied().is_some_and(is_word) {
            let mut j = i + 1;
            while bytes.get(j).copied().is_some_and(is_word) {
                j += 1;
            }
            emit(SqlToken::Placeholder);
            i = j;
        } else if b.is_ascii_whitespace() {
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            emit(SqlToken::Space);
        } else {
            let len = rest.chars().next().map_or(1, char::len_utf8);
            emit(SqlToken::Text(sql.get(i..i + len).unwrap_or("")));
            i += len;
        }
        debug_assert!(i > start);
    }
}

/// The values written in a comma-separated `wirespan.request.identifiers` attribute.
pub fn listed_values(list: &str, out: &mut Values) {
    for v in list.split(',') {
        out.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(f: impl Fn(&mut Values)) -> Vec<String> {
        let mut v = Values::default();
        f(&mut v);
        v.0
    }

    #[test]
    fn urls_give_segments_and_query_values() {
        assert_eq!(
            values(|v| url_values("/shop/cart/42?user=7&q=tea+pot#x", v)),
            ["shop", "cart", "42", "7", "tea pot"]
        );
        assert_eq!(
            values(|v| url_values("http://10.0.0.1:9090/items?user=%33", v)),
            ["items", "3"]
        );
    }

    #[test]
    fn sql_literals_are_strings_and_standalone_numbers() {
        assert_eq!(
            values(|v| sql_literals(
                "SELECT t1.a FROM t1 WHERE id = 12 AND name = 'o''brien' AND x=3.5",
                v
            )),
            ["12", "o''brien", "3.5"]
        );
    }

    #[test]
    fn a_driver_statement_and_the_sql_it_sent_have_one_shape() {
        let sent =
            "SELECT i.sku FROM items i JOIN cart_items c ON c.sku = i.sku\n WHERE c.user_id = 3";
        let span =
            "SELECT i.sku FROM items i JOIN cart_items c ON c.sku = i.sku WHERE c.user_id = %s";
        assert_eq!(sql_shape(sent), sql_shape(span));
        assert_eq!(
            sql_shape("select * from t where a = $1 and b = :b and c = ? and d = %(d)s"),
            "select * from t where a = ? and b = ? and c = ? and d = ?"
        );
        assert_ne!(sql_shape("SELECT 1 FROM a"), sql_shape("SELECT 1 FROM b"));
    }

    #[test]
    fn values_stay_bounded() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let v = values(|v| {
            v.push(&long);
            for i in 0..100 {
                v.push(&i.to_string());
            }
        });
        assert_eq!(v.len(), MAX_VALUES);
    }
}
