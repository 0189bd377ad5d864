//! Bench inputs: GitHub `push` bodies of an exact size, delivery ids shaped
//! like GitHub's (UUIDs), and sizes named on the command line.

use std::fmt::Write as _;

/// The secret the bench signs with.
pub(crate) const SECRET: &str = "bench-github-secret-Qx71rL";

/// A GitHub `push` body of exactly `size` bytes: the fields GitHub sends, a
/// commit repeated until the size is nearly reached, and the `compare` URL
/// padded to make up the rest. `extra` (`"id":"evt_1",` …) goes first.
///
/// # Panics
/// If `size` is too small for one commit (under about 900 bytes).
pub(crate) fn push_body(size: usize, extra: &str) -> Vec<u8> {
    let mut head = String::from("{");
    head.push_str(extra);
    head.push_str(concat!(
        r#""ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","#,
        r#""after":"59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5","repository":{"id":1296269,"#,
        r#""full_name":"octocat/Hello-World","private":false},"#,
        r#""pusher":{"name":"octocat","email":"octocat@github.com"},"#,
        r#""sender":{"login":"octocat","id":1},"#,
        r#""created":false,"deleted":false,"forced":false,"commits":["#
    ));
    let tail_start = r#"],"compare":"https://github.com/octocat/Hello-World/compare/"#;
    let tail_end = r#""}"#;
    let mut commits = String::new();
    for index in 0_u64.. {
        let commit = commit(index);
        let separator = usize::from(index > 0);
        let total = head.len()
            + commits.len()
            + separator
            + commit.len()
            + tail_start.len()
            + tail_end.len();
        if total > size {
            assert!(index > 0, "a push body needs at least 900 bytes");
            break;
        }
        if index > 0 {
            commits.push(',');
        }
        commits.push_str(&commit);
    }
    let mut body = head;
    body.push_str(&commits);
    body.push_str(tail_start);
    let padding = size - body.len() - tail_end.len();
    body.extend(std::iter::repeat_n('a', padding));
    body.push_str(tail_end);
    debug_assert_eq!(body.len(), size);
    body.into_bytes()
}

fn commit(index: u64) -> String {
    let sha = format!(
        "{:040x}",
        u128::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
    );
    let sha = &sha[sha.len() - 40..];
    let mut commit = String::new();
    write!(
        commit,
        concat!(
            r#"{{"id":"{sha}","distinct":true,"message":"Fix #{index}","#,
            r#""timestamp":"2024-05-01T12:00:00+02:00","#,
            r#""url":"https://github.com/octocat/Hello-World/commit/{sha}","#,
            r#""author":{{"name":"Monalisa Octocat","email":"support@github.com"}},"#,
            r#""added":[],"removed":[],"modified":["README.md"]}}"#
        ),
        sha = sha,
        index = index
    )
    .expect("writing to a String cannot fail");
    commit
}

/// A delivery id shaped like GitHub's `X-GitHub-Delivery` (a UUID), unique
/// for each `n`.
pub(crate) fn delivery_id(n: u64) -> String {
    // An odd multiplier is a bijection on u64: distinct n, distinct ids.
    let mixed = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        mixed >> 32,
        (mixed >> 16) & 0xffff,
        mixed & 0xfff,
        (n >> 52) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// A size such as `1k`, `64k`, `1m` or `4096`, in bytes (k = 1,024).
pub(crate) fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, unit) = match text.strip_suffix('k') {
        Some(digits) => (digits, 1024),
        None => match text.strip_suffix('m') {
            Some(digits) => (digits, 1024 * 1024),
            None => (text.as_str(), 1),
        },
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}
