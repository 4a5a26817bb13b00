// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! Checks the `authorization: Bearer <token>` metadata that guards Shutdown
//! and Reconfigure.

use tonic::metadata::MetadataMap;
use tonic::Status;

/// Accepts the call when it carries the unit's token; otherwise answers
/// UNAUTHENTICATED (no or malformed metadata, or no token configured) or
/// PERMISSION_DENIED (a wrong token), as the unit contract requires.
pub fn check_bearer(metadata: &MetadataMap, expected: Option<&str>) -> Result<(), Status> {
    let Some(expected) = expected else {
        return Err(Status::unauthenticated(
            "this unit has no HSU_TOKEN, so it refuses every Shutdown and Reconfigure; stop it with a signal",
        ));
    };
    let header = metadata.get("authorization").ok_or_else(|| {
        Status::unauthenticated("missing `authorization: Bearer <token>` metadata")
    })?;
    let presented = header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            Status::unauthenticated("the authorization metadata is not `Bearer <token>`")
        })?;
    if constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Status::permission_denied(
            "the token does not match this unit's HSU_TOKEN",
        ))
    }
}

/// Compares two byte strings in time that depends only on their lengths, not
/// on where they first differ, so the token cannot be guessed byte by byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn with_auth(value: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(v) = value {
            map.insert("authorization", v.parse().unwrap());
        }
        map
    }

    #[test]
    fn compares_in_full() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn maps_each_case_to_the_contract_code() {
        let code = |m: &MetadataMap, t: Option<&str>| check_bearer(m, t).err().map(|s| s.code());
        assert_eq!(code(&with_auth(Some("Bearer t0k")), Some("t0k")), None);
        assert_eq!(
            code(&with_auth(None), Some("t0k")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(&with_auth(Some("Basic t0k")), Some("t0k")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(&with_auth(Some("Bearer nope")), Some("t0k")),
            Some(Code::PermissionDenied)
        );
        assert_eq!(
            code(&with_auth(Some("Bearer t0k")), None),
            Some(Code::Unauthenticated)
        );
    }
}
