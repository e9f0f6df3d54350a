//! A short, stable, non-cryptographic hash (64-bit FNV-1a), for values that only need to
//! change when their input changes: pod-template annotations that roll pods when what they
//! read at start changes, and suffixes that keep shortened names unique. Not for secrecy or
//! integrity. Pure.

/// FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a of `parts`, each followed by a NUL byte (so `["ab", "c"]` and `["a", "bc"]`
/// differ), as 16 hex digits.
pub fn of_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut bytes = Vec::new();
    for part in parts {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0);
    }
    format!("{:016x}", fnv1a64(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited() {
        assert_ne!(of_parts(["ab", "c"]), of_parts(["a", "bc"]));
        assert_eq!(of_parts(["a"]), format!("{:016x}", fnv1a64(b"a\0")));
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    }
}
