//! Results and their evidence: what a study's job produced (response, data, metrics) and the
//! artifacts that back it (screenshots, HTML, ...), checked before they are stored.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{DomainError, EvidenceId, JobId, ResultId, StudyId, TenantId, error::invalid, text};

/// The longest surface or query of a result, in characters (as in a manifest).
const MAX_CELL_CHARS: usize = 1024;

/// The longest evidence URI, in characters.
const MAX_URI_CHARS: usize = 2048;

/// The longest content type, in characters.
const MAX_CONTENT_TYPE_CHARS: usize = 255;

/// What a result's run measured; every figure is optional and non-negative.
///
/// Its JSON form is `{"latencyMs": .., "tokensIn": .., "tokensOut": ..}`, absent figures omitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResultMetrics {
    /// How long the answer took, in milliseconds.
    pub latency_ms: Option<i64>,
    /// Tokens sent.
    pub tokens_in: Option<i64>,
    /// Tokens received.
    pub tokens_out: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricsWire {
    #[serde(default)]
    latency_ms: Option<i64>,
    #[serde(default)]
    tokens_in: Option<i64>,
    #[serde(default)]
    tokens_out: Option<i64>,
}

impl ResultMetrics {
    /// Checks that every figure given is at least 0.
    pub fn validate(&self) -> Result<(), DomainError> {
        for (field, value) in [
            ("metrics.latency_ms", self.latency_ms),
            ("metrics.tokens_in", self.tokens_in),
            ("metrics.tokens_out", self.tokens_out),
        ] {
            if let Some(value) = value
                && value < 0
            {
                return Err(invalid(field, format!("{value} is negative")));
            }
        }
        Ok(())
    }

    /// The JSON form, absent figures omitted (`{}` when none).
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        for (key, value) in [
            ("latencyMs", self.latency_ms),
            ("tokensIn", self.tokens_in),
            ("tokensOut", self.tokens_out),
        ] {
            if let Some(value) = value {
                map.insert(key.to_owned(), Value::from(value));
            }
        }
        Value::Object(map).to_string()
    }

    /// Reads the JSON form (a figure may be absent or `null`; unknown keys are refused) and
    /// checks it; errors name `metrics`.
    ///
    /// ```
    /// use jobstore_domain::ResultMetrics;
    ///
    /// let metrics = ResultMetrics::from_json(r#"{"latencyMs": 840, "tokensOut": 212}"#)?;
    /// assert_eq!((metrics.latency_ms, metrics.tokens_in), (Some(840), None));
    /// assert!(ResultMetrics::from_json(r#"{"latencyMs": -1}"#).is_err());
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<ResultMetrics, DomainError> {
        let not_metrics =
            |e: serde_json::Error| invalid("metrics", format!("is not a metrics object: {e}"));
        let value: Value = serde_json::from_str(json).map_err(not_metrics)?;
        // A derived struct would also read an array (`[]` as all absent): only objects are metrics.
        if !value.is_object() {
            return Err(invalid("metrics", "is not a JSON object"));
        }
        let wire: MetricsWire = serde_json::from_value(value).map_err(not_metrics)?;
        let metrics = ResultMetrics {
            latency_ms: wire.latency_ms,
            tokens_in: wire.tokens_in,
            tokens_out: wire.tokens_out,
        };
        metrics.validate()?;
        Ok(metrics)
    }
}

/// A study job's output: what was asked where, whether it worked, the answer and what it cost
/// in time and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyResult {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The result's id, unique within its tenant.
    pub id: ResultId,
    /// The study it belongs to.
    pub study_id: StudyId,
    /// The job that produced it.
    pub job_id: JobId,
    /// The surface asked (1 to 1024 characters).
    pub surface: String,
    /// The query asked (1 to 1024 characters).
    pub query: String,
    /// Whether the job got an answer.
    pub success: bool,
    /// The answer as text (at most [`crate::MAX_TEXT_BYTES`]).
    pub response_text: Option<String>,
    /// Structured output: a JSON document (at most [`crate::MAX_TEXT_BYTES`]).
    pub data: Option<String>,
    /// What the run measured.
    pub metrics: ResultMetrics,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A result to store: [`StudyResult`] without its time, with an optional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResult {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; a UUID when `None`.
    pub id: Option<ResultId>,
    /// See [`StudyResult::study_id`].
    pub study_id: StudyId,
    /// See [`StudyResult::job_id`].
    pub job_id: JobId,
    /// See [`StudyResult::surface`].
    pub surface: String,
    /// See [`StudyResult::query`].
    pub query: String,
    /// See [`StudyResult::success`].
    pub success: bool,
    /// See [`StudyResult::response_text`].
    pub response_text: Option<String>,
    /// See [`StudyResult::data`].
    pub data: Option<String>,
    /// See [`StudyResult::metrics`].
    pub metrics: ResultMetrics,
}

impl NewResult {
    /// The result this makes, stored at `now`, after [`StudyResult::validate`].
    pub fn into_result(self, now: DateTime<Utc>) -> Result<StudyResult, DomainError> {
        let result = StudyResult {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(ResultId::generate),
            study_id: self.study_id,
            job_id: self.job_id,
            surface: self.surface,
            query: self.query,
            success: self.success,
            response_text: self.response_text,
            data: self.data,
            metrics: self.metrics,
            created_at: now,
        };
        result.validate()?;
        Ok(result)
    }
}

impl StudyResult {
    /// Checks surface and query (1 to 1024 characters without surrounding whitespace, as in a
    /// manifest), the response's and the data's size, that
    /// the data is JSON, the metrics and the time.
    pub fn validate(&self) -> Result<(), DomainError> {
        text::key("surface", Some(&self.surface), MAX_CELL_CHARS)?;
        text::key("query", Some(&self.query), MAX_CELL_CHARS)?;
        if let Some(response) = &self.response_text {
            text::long("response_text", response)?;
        }
        if let Some(data) = &self.data {
            text::long("data", data)?;
            serde_json::from_str::<serde::de::IgnoredAny>(data)
                .map_err(|e| invalid("data", format!("is not JSON: {e}")))?;
        }
        self.metrics.validate()?;
        crate::check_time("created_at", self.created_at)
    }
}

/// What kind of artifact a piece of evidence is; stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKind {
    /// An image of the page (`screenshot`).
    Screenshot,
    /// The page's HTML (`html`).
    Html,
    /// Extracted text (`text`).
    Text,
    /// An HTTP archive of the session (`har`).
    Har,
    /// A recording (`video`).
    Video,
    /// Anything else (`other`).
    Other,
}

impl EvidenceKind {
    /// Every kind, in declaration order (for CHECK constraints and listings).
    pub const ALL: [EvidenceKind; 6] = [
        EvidenceKind::Screenshot,
        EvidenceKind::Html,
        EvidenceKind::Text,
        EvidenceKind::Har,
        EvidenceKind::Video,
        EvidenceKind::Other,
    ];

    /// The stored name: `screenshot`, `html`, `text`, `har`, `video`, `other`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Screenshot => "screenshot",
            EvidenceKind::Html => "html",
            EvidenceKind::Text => "text",
            EvidenceKind::Har => "har",
            EvidenceKind::Video => "video",
            EvidenceKind::Other => "other",
        }
    }
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EvidenceKind {
    type Err = DomainError;

    /// Reads the stored name (lower-case only); errors name `kind`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EvidenceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                invalid(
                    "kind",
                    format!("{s:?} is not one of screenshot, html, text, har, video, other"),
                )
            })
    }
}

/// An artifact backing a result: where it is, its SHA-256, size and type, and when it was
/// captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The evidence's id, unique within its tenant.
    pub id: EvidenceId,
    /// The result it backs.
    pub result_id: ResultId,
    /// What kind of artifact it is.
    pub kind: EvidenceKind,
    /// Where it is: an `http`, `https`, `s3`, `gs` or `file` URL (at most 2048 characters).
    pub uri: String,
    /// Its SHA-256: 64 lower-case hex characters.
    pub sha256: String,
    /// Its size in bytes (at least 0).
    pub size_bytes: i64,
    /// Its media type, `type/subtype` with optional parameters (at most 255 characters).
    pub content_type: String,
    /// When it was captured.
    pub captured_at: DateTime<Utc>,
}

/// Evidence to attach: [`Evidence`] with an optional id and capture time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; a UUID when `None`.
    pub id: Option<EvidenceId>,
    /// See [`Evidence::result_id`].
    pub result_id: ResultId,
    /// See [`Evidence::kind`].
    pub kind: EvidenceKind,
    /// See [`Evidence::uri`].
    pub uri: String,
    /// 64 hex characters in either case; stored lower-case.
    pub sha256: String,
    /// See [`Evidence::size_bytes`].
    pub size_bytes: i64,
    /// See [`Evidence::content_type`].
    pub content_type: String,
    /// When it was captured; `None` means when it is attached.
    pub captured_at: Option<DateTime<Utc>>,
}

impl NewEvidence {
    /// The evidence this makes (hash in lower case; captured at `now` unless the caller said
    /// when), after [`Evidence::validate`].
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{EvidenceKind, NewEvidence, ResultId, TenantId};
    ///
    /// let evidence = NewEvidence {
    ///     tenant_id: TenantId::new("tenant-123")?,
    ///     id: None,
    ///     result_id: ResultId::new("result-1")?,
    ///     kind: EvidenceKind::Screenshot,
    ///     uri: "s3://evidence/study-1/result-1.png".into(),
    ///     sha256: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".into(),
    ///     size_bytes: 48_213,
    ///     content_type: "image/png".into(),
    ///     captured_at: None,
    /// }
    /// .into_evidence(Utc::now())?;
    /// assert!(evidence.sha256.starts_with("e3b0c442"));
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn into_evidence(self, now: DateTime<Utc>) -> Result<Evidence, DomainError> {
        let evidence = Evidence {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(EvidenceId::generate),
            result_id: self.result_id,
            kind: self.kind,
            uri: self.uri,
            sha256: self.sha256.to_ascii_lowercase(),
            size_bytes: self.size_bytes,
            content_type: self.content_type,
            captured_at: self.captured_at.unwrap_or(now),
        };
        evidence.validate()?;
        Ok(evidence)
    }
}

impl Evidence {
    /// Checks the URI, the hash (64 lower-case hex characters), the size, the content type and
    /// the capture time.
    pub fn validate(&self) -> Result<(), DomainError> {
        validate_uri(&self.uri)?;
        if self.sha256.len() != 64
            || !self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid(
                "sha256",
                format!("{:?} is not 64 hex characters", self.sha256),
            ));
        }
        if self.size_bytes < 0 {
            return Err(invalid(
                "size_bytes",
                format!("{} is negative", self.size_bytes),
            ));
        }
        validate_content_type(&self.content_type)?;
        crate::check_time("captured_at", self.captured_at)
    }
}

fn validate_uri(uri: &str) -> Result<(), DomainError> {
    // `key` also refuses surrounding whitespace, which the URL parser would silently drop.
    text::key("uri", Some(uri), MAX_URI_CHARS)?;
    let url =
        url::Url::parse(uri).map_err(|e| invalid("uri", format!("{uri:?} is not a URL: {e}")))?;
    let has_host = url.host_str().is_some_and(|h| !h.is_empty());
    let has_path = !matches!(url.path(), "" | "/");
    match url.scheme() {
        "http" | "https" if has_host => Ok(()),
        "s3" | "gs" if has_host && has_path => Ok(()),
        "file" if has_path => Ok(()),
        "http" | "https" | "s3" | "gs" | "file" => Err(invalid(
            "uri",
            format!("{uri:?} names no object (s3 and gs need a bucket and a key, http a host)"),
        )),
        other => Err(invalid(
            "uri",
            format!("scheme {other:?} is not http, https, s3, gs or file"),
        )),
    }
}

/// Checks a media type's shape: `type/subtype`, both RFC 9110 tokens, optionally followed by
/// `;` parameters.
fn validate_content_type(content_type: &str) -> Result<(), DomainError> {
    text::key("content_type", Some(content_type), MAX_CONTENT_TYPE_CHARS)?;
    let essence = content_type
        .split_once(';')
        .map_or(content_type, |(essence, _)| essence)
        .trim_end();
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let shaped = essence
        .split_once('/')
        .is_some_and(|(kind, subtype)| is_token(kind) && is_token(subtype));
    if !shaped || content_type.chars().any(char::is_control) {
        return Err(invalid(
            "content_type",
            format!("{content_type:?} is not a media type such as image/png"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::new("t1").unwrap()
    }

    fn field_of(err: DomainError) -> &'static str {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    fn new_result() -> NewResult {
        NewResult {
            tenant_id: tenant(),
            id: None,
            study_id: StudyId::new("s1").unwrap(),
            job_id: JobId::new("j1").unwrap(),
            surface: "google".into(),
            query: "best pizza".into(),
            success: true,
            response_text: Some("Try Luigi's.".into()),
            data: Some(r#"{"rank": 1}"#.into()),
            metrics: ResultMetrics {
                latency_ms: Some(840),
                tokens_in: Some(12),
                tokens_out: Some(212),
            },
        }
    }

    fn new_evidence() -> NewEvidence {
        NewEvidence {
            tenant_id: tenant(),
            id: None,
            result_id: ResultId::new("r1").unwrap(),
            kind: EvidenceKind::Screenshot,
            uri: "s3://evidence/s1/r1.png".into(),
            sha256: HASH.into(),
            size_bytes: 48_213,
            content_type: "image/png".into(),
            captured_at: Some(now()),
        }
    }

    #[test]
    fn metrics_round_trip_through_their_json() {
        let full = new_result().metrics;
        assert_eq!(
            full.to_json(),
            r#"{"latencyMs":840,"tokensIn":12,"tokensOut":212}"#
        );
        assert_eq!(ResultMetrics::from_json(&full.to_json()).unwrap(), full);
        let none = ResultMetrics::default();
        assert_eq!(none.to_json(), "{}");
        assert_eq!(ResultMetrics::from_json("{}").unwrap(), none);
        assert_eq!(
            ResultMetrics::from_json(r#"{"tokensIn": null, "tokensOut": 3}"#).unwrap(),
            ResultMetrics {
                tokens_out: Some(3),
                ..none
            }
        );
    }

    #[test]
    fn bad_metrics_are_refused() {
        assert_eq!(
            field_of(ResultMetrics::from_json(r#"{"latencyMs": -1}"#).unwrap_err()),
            "metrics.latency_ms"
        );
        assert_eq!(
            field_of(ResultMetrics::from_json(r#"{"tokensIn": 1.5}"#).unwrap_err()),
            "metrics"
        );
        assert_eq!(
            field_of(ResultMetrics::from_json(r#"{"tokens": 1}"#).unwrap_err()),
            "metrics"
        );
        assert_eq!(
            field_of(ResultMetrics::from_json("[]").unwrap_err()),
            "metrics"
        );
    }

    #[test]
    fn a_new_result_gets_an_id_and_its_time() {
        let result = new_result().into_result(now()).unwrap();
        assert_eq!(result.id.as_str().len(), 36);
        assert_eq!(result.created_at, now());
    }

    #[test]
    fn bad_result_fields_name_their_field() {
        let bad = |f: fn(&mut NewResult)| {
            let mut r = new_result();
            f(&mut r);
            field_of(r.into_result(now()).unwrap_err())
        };
        assert_eq!(bad(|r| r.surface = String::new()), "surface");
        assert_eq!(bad(|r| r.surface = " google".into()), "surface");
        assert_eq!(bad(|r| r.query = "q".repeat(1025)), "query");
        assert_eq!(bad(|r| r.data = Some("{not json".into())), "data");
        assert_eq!(
            bad(|r| r.data = Some(format!("\"{}\"", "x".repeat(crate::MAX_TEXT_BYTES)))),
            "data"
        );
        assert_eq!(
            bad(|r| r.response_text = Some("x".repeat(crate::MAX_TEXT_BYTES + 1))),
            "response_text"
        );
        assert_eq!(
            bad(|r| r.metrics.tokens_out = Some(-5)),
            "metrics.tokens_out"
        );
        let mut bare = new_result();
        (bare.response_text, bare.data, bare.success) = (None, None, false);
        assert!(bare.into_result(now()).is_ok());
    }

    #[test]
    fn evidence_kinds_read_back_their_names() {
        for kind in EvidenceKind::ALL {
            assert_eq!(kind.as_str().parse::<EvidenceKind>().unwrap(), kind);
        }
        assert_eq!(EvidenceKind::Har.to_string(), "har");
        assert_eq!(
            field_of("Screenshot".parse::<EvidenceKind>().unwrap_err()),
            "kind"
        );
        assert_eq!(field_of("pdf".parse::<EvidenceKind>().unwrap_err()), "kind");
    }

    #[test]
    fn new_evidence_lower_cases_its_hash_and_defaults_its_capture_time() {
        let e = NewEvidence {
            sha256: HASH.to_ascii_uppercase(),
            captured_at: None,
            ..new_evidence()
        }
        .into_evidence(now())
        .unwrap();
        assert_eq!(e.sha256, HASH);
        assert_eq!(e.captured_at, now());
        assert_eq!(e.id.as_str().len(), 36);
    }

    #[test]
    fn a_bad_hash_is_refused() {
        for hash in [
            "",
            &HASH[..63],
            &format!("{HASH}0"),
            &format!("{}g", &HASH[..63]),
            &format!(" {}", &HASH[..63]),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78",
        ] {
            let err = NewEvidence {
                sha256: hash.to_owned(),
                ..new_evidence()
            }
            .into_evidence(now())
            .unwrap_err();
            assert_eq!(field_of(err), "sha256", "{hash:?}");
        }
    }

    #[test]
    fn uris_must_name_an_object_in_a_known_scheme() {
        for uri in [
            "https://cdn.example.com/e/r1.png",
            "http://localhost:9000/bucket/r1.png",
            "s3://evidence/s1/r1.png",
            "gs://evidence/r1.html",
            "file:///var/evidence/r1.har",
        ] {
            let ok = NewEvidence {
                uri: uri.into(),
                ..new_evidence()
            };
            assert!(ok.into_evidence(now()).is_ok(), "{uri}");
        }
        for uri in [
            "",
            "not a url",
            "/var/evidence/r1.png",
            "ftp://example.com/r1.png",
            "data:image/png;base64,AAAA",
            "javascript:alert(1)",
            "s3://evidence",
            "s3://evidence/",
            "https://",
            " https://example.com/r1.png",
            &format!("https://example.com/{}", "x".repeat(2048)),
        ] {
            let err = NewEvidence {
                uri: uri.into(),
                ..new_evidence()
            }
            .into_evidence(now())
            .unwrap_err();
            assert_eq!(field_of(err), "uri", "{uri:?}");
        }
    }

    #[test]
    fn size_content_type_and_time_are_checked() {
        let bad = |f: fn(&mut NewEvidence)| {
            let mut e = new_evidence();
            f(&mut e);
            field_of(e.into_evidence(now()).unwrap_err())
        };
        assert_eq!(bad(|e| e.size_bytes = -1), "size_bytes");
        assert_eq!(bad(|e| e.content_type = "png".into()), "content_type");
        assert_eq!(bad(|e| e.content_type = "image/".into()), "content_type");
        assert_eq!(bad(|e| e.content_type = "/png".into()), "content_type");
        assert_eq!(
            bad(|e| e.content_type = "image png/x".into()),
            "content_type"
        );
        assert_eq!(
            bad(|e| e.content_type = format!("image/{}", "x".repeat(250))),
            "content_type"
        );
        assert_eq!(
            bad(|e| e.captured_at = DateTime::from_timestamp(-62_000_000_000, 0)),
            "captured_at"
        );
        let mut ok = new_evidence();
        ok.size_bytes = 0;
        ok.content_type = "text/html; charset=utf-8".into();
        assert!(ok.into_evidence(now()).is_ok());
    }
}
