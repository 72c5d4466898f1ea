//! Manifests: the typed, validated JSON document a study's jobs are made from (a job template and
//! the matrix of queries × surfaces × locations, one job per cell).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{DomainError, Job, JobId, NewJob, TenantId, error::invalid, output_prefix, text};

/// The largest manifest accepted, in bytes of JSON (checked before parsing, and on the stored form).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The most cells (and so jobs) one manifest may make.
pub const MAX_CELLS: usize = 100_000;

/// The longest query, surface or location, in characters.
const MAX_AXIS_CHARS: usize = 1024;

/// What a study is made from: a job template and the matrix its jobs cover.
///
/// Every cell of queries × surfaces × locations (or queries × surfaces when there are no
/// locations) becomes one job, whose spec records its cell (see [`Cell::spec_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// What every job of the study runs, and how.
    pub template: ManifestTemplate,
    /// The queries asked (at least one; each 1 to 1024 characters without surrounding
    /// whitespace, no duplicates).
    pub queries: Vec<String>,
    /// The surfaces each query is asked on (at least one; as queries).
    pub surfaces: Vec<String>,
    /// Where each query is asked from; empty means nowhere in particular (as queries otherwise).
    pub locations: Vec<String>,
}

/// The part of a job every cell shares; checked by the same rules as a [`NewJob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestTemplate {
    /// The queue the jobs go to (JSON `queue`, default `default`).
    pub queue: String,
    /// The container image (JSON `imageUri`, optional).
    pub image_uri: Option<String>,
    /// The command line (JSON `commands`, default empty).
    pub commands: Vec<String>,
    /// Higher runs first (JSON `priority`, default 0).
    pub priority: i32,
    /// Retries each job gets (JSON `maxRetries`, 0 to 1000, default 3).
    pub max_retries: i32,
}

impl Default for ManifestTemplate {
    /// The defaults of [`NewJob::new`].
    fn default() -> Self {
        ManifestTemplate {
            queue: crate::DEFAULT_QUEUE.to_owned(),
            image_uri: None,
            commands: Vec::new(),
            priority: 0,
            max_retries: crate::DEFAULT_MAX_RETRIES,
        }
    }
}

/// One cell of a manifest's matrix: what one job of the study does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cell {
    /// The query.
    pub query: String,
    /// The surface it is asked on.
    pub surface: String,
    /// Where it is asked from, when the manifest has locations.
    pub location: Option<String>,
}

/// The stored JSON form of a manifest.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestWire<'a> {
    template: TemplateWire<'a>,
    queries: &'a [String],
    surfaces: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    locations: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateWire<'a> {
    queue: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_uri: Option<&'a str>,
    commands: &'a [String],
    priority: i32,
    max_retries: i32,
}

/// A cell's spec JSON, in the order people read it.
#[derive(Serialize)]
struct CellWire<'a> {
    query: &'a str,
    surface: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
}

impl Manifest {
    /// Reads and checks a manifest's JSON.
    ///
    /// Every refusal is a [`DomainError::Validation`] naming the field by its JSON path
    /// (`manifest.template.priority`, `manifest.queries`, ...); an item of a list is named in the
    /// reason (`item 2 ...`).
    ///
    /// ```
    /// use jobstore_domain::{DomainError, Manifest};
    ///
    /// let manifest = Manifest::parse(
    ///     r#"{"template": {"queue": "crawl", "imageUri": "gcr.io/p/crawler:1", "commands": ["run"],
    ///                      "priority": 5, "maxRetries": 2},
    ///         "queries": ["best pizza", "cheap flights"],
    ///         "surfaces": ["google", "bing"],
    ///         "locations": ["Paris", "Berlin", "Rome"]}"#,
    /// )?;
    /// assert_eq!(manifest.cell_count(), 12);
    ///
    /// let wrong = Manifest::parse(r#"{"template": {"priority": "high"}, "queries": ["q"], "surfaces": ["s"]}"#);
    /// assert!(matches!(wrong, Err(DomainError::Validation { field: "manifest.template.priority", .. })));
    /// # Ok::<(), DomainError>(())
    /// ```
    pub fn parse(json: &str) -> Result<Manifest, DomainError> {
        if json.len() > MAX_MANIFEST_BYTES {
            return Err(invalid(
                "manifest",
                format!(
                    "is {} bytes, at most {MAX_MANIFEST_BYTES} allowed",
                    json.len()
                ),
            ));
        }
        // Read as a value first and check each field by hand, so a wrong type names its field
        // rather than a line and column.
        let value: Value = serde_json::from_str(json)
            .map_err(|e| invalid("manifest", format!("is not JSON: {e}")))?;
        let manifest = Manifest::from_value(value)?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn from_value(value: Value) -> Result<Manifest, DomainError> {
        let mut map = object("manifest", value)?;
        only_keys(
            "manifest",
            &map,
            &["template", "queries", "surfaces", "locations"],
        )?;
        let template = match map.remove("template") {
            Some(value) => ManifestTemplate::from_value(value)?,
            None => return Err(invalid("manifest.template", "is missing")),
        };
        let queries = match map.remove("queries") {
            Some(value) => strings("manifest.queries", value)?,
            None => return Err(invalid("manifest.queries", "is missing")),
        };
        let surfaces = match map.remove("surfaces") {
            Some(value) => strings("manifest.surfaces", value)?,
            None => return Err(invalid("manifest.surfaces", "is missing")),
        };
        let locations = match map.remove("locations") {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => strings("manifest.locations", value)?,
        };
        Ok(Manifest {
            template,
            queries,
            surfaces,
            locations,
        })
    }

    /// Checks the matrix (not empty, every entry 1 to 1024 characters without surrounding
    /// whitespace, no duplicates, at most [`MAX_CELLS`] cells), the template (as a [`NewJob`]'s)
    /// and the stored size.
    pub fn validate(&self) -> Result<(), DomainError> {
        axis("manifest.queries", &self.queries, true)?;
        axis("manifest.surfaces", &self.surfaces, true)?;
        axis("manifest.locations", &self.locations, false)?;
        let cells = self
            .queries
            .len()
            .checked_mul(self.surfaces.len())
            .and_then(|n| n.checked_mul(self.locations.len().max(1)));
        match cells {
            Some(n) if n <= MAX_CELLS => {}
            Some(n) => {
                return Err(invalid(
                    "manifest",
                    format!(
                        "has {n} cells ({} queries × {} surfaces × {} locations), at most {MAX_CELLS} allowed",
                        self.queries.len(),
                        self.surfaces.len(),
                        self.locations.len().max(1)
                    ),
                ));
            }
            None => {
                return Err(invalid(
                    "manifest",
                    format!("has more cells than can be counted, at most {MAX_CELLS} allowed"),
                ));
            }
        }
        self.template.validate()?;
        let bytes = self.to_json().len();
        if bytes > MAX_MANIFEST_BYTES {
            return Err(invalid(
                "manifest",
                format!("is {bytes} bytes as stored, at most {MAX_MANIFEST_BYTES} allowed"),
            ));
        }
        Ok(())
    }

    /// The stored JSON form, which [`Manifest::parse`] reads back to an equal manifest.
    pub fn to_json(&self) -> String {
        let wire = ManifestWire {
            template: TemplateWire {
                queue: &self.template.queue,
                image_uri: self.template.image_uri.as_deref(),
                commands: &self.template.commands,
                priority: self.template.priority,
                max_retries: self.template.max_retries,
            },
            queries: &self.queries,
            surfaces: &self.surfaces,
            locations: &self.locations,
        };
        // Strings, integers and lists of strings always serialise.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// How many cells (and so jobs) the matrix has: queries × surfaces × max(1, locations).
    pub fn cell_count(&self) -> usize {
        self.queries
            .len()
            .saturating_mul(self.surfaces.len())
            .saturating_mul(self.locations.len().max(1))
    }

    /// The cells, query-major, then surface, then location, in the manifest's order.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.cell_parts().map(|(query, surface, location)| Cell {
            query: query.to_owned(),
            surface: surface.to_owned(),
            location: location.map(str::to_owned),
        })
    }

    /// The cells as borrowed parts, in [`Manifest::cells`] order (no copies for [`Manifest::jobs`]).
    fn cell_parts(&self) -> impl Iterator<Item = (&str, &str, Option<&str>)> + '_ {
        self.queries.iter().flat_map(move |query| {
            self.surfaces.iter().flat_map(move |surface| {
                self.location_slots()
                    .map(move |location| (query.as_str(), surface.as_str(), location))
            })
        })
    }

    /// Each location, or a single `None` when there are none.
    fn location_slots(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let nowhere = self.locations.is_empty().then_some(None);
        nowhere
            .into_iter()
            .chain(self.locations.iter().map(|l| Some(l.as_str())))
    }

    /// One PENDING job per cell, in [`Manifest::cells`] order, each with a fresh id and its
    /// cell's spec; the manifest is checked once, not once per job.
    pub fn jobs(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<Job>, DomainError> {
        self.validate()?;
        let mut cells = self.cell_parts();
        let Some((query, surface, location)) = cells.next() else {
            return Ok(Vec::new());
        };
        // Only the id, the output prefix and the spec differ between the jobs of a manifest:
        // the first job is built (and checked) as any job is, the others are copies of it.
        let first = NewJob {
            spec: Some(spec_json(query, surface, location)),
            ..self.template.new_job(tenant.clone())
        }
        .into_job(now)?;
        let mut template = first.clone();
        template.spec = None;
        let mut jobs = Vec::with_capacity(self.cell_count());
        jobs.push(first);
        for (query, surface, location) in cells {
            let mut job = template.clone();
            job.id = JobId::generate();
            job.output_prefix = output_prefix(&job.id, 1);
            job.spec = Some(spec_json(query, surface, location));
            jobs.push(job);
        }
        Ok(jobs)
    }
}

impl ManifestTemplate {
    fn from_value(value: Value) -> Result<ManifestTemplate, DomainError> {
        let mut map = object("manifest.template", value)?;
        only_keys(
            "manifest.template",
            &map,
            &["queue", "imageUri", "commands", "priority", "maxRetries"],
        )?;
        let defaults = ManifestTemplate::default();
        Ok(ManifestTemplate {
            queue: match map.remove("queue") {
                None | Some(Value::Null) => defaults.queue,
                Some(value) => string("manifest.template.queue", value)?,
            },
            image_uri: match map.remove("imageUri") {
                None | Some(Value::Null) => None,
                Some(value) => Some(string("manifest.template.imageUri", value)?),
            },
            commands: match map.remove("commands") {
                None | Some(Value::Null) => defaults.commands,
                Some(value) => strings("manifest.template.commands", value)?,
            },
            priority: match map.remove("priority") {
                None | Some(Value::Null) => defaults.priority,
                Some(value) => int32("manifest.template.priority", &value)?,
            },
            max_retries: match map.remove("maxRetries") {
                None | Some(Value::Null) => defaults.max_retries,
                Some(value) => int32("manifest.template.maxRetries", &value)?,
            },
        })
    }

    /// Checks the template by the rules of a [`NewJob`]; errors name the JSON field.
    pub fn validate(&self) -> Result<(), DomainError> {
        let tenant = TenantId::new("manifest")?;
        self.new_job(tenant).validate().map_err(|e| match e {
            DomainError::Validation { field, reason } => {
                let field = match field {
                    "queue" => "manifest.template.queue",
                    "image_uri" => "manifest.template.imageUri",
                    "commands" => "manifest.template.commands",
                    "priority" => "manifest.template.priority",
                    "max_retries" => "manifest.template.maxRetries",
                    other => other,
                };
                invalid(field, reason)
            }
            other => other,
        })
    }

    /// The job every cell starts from, for `tenant`, with no spec yet.
    fn new_job(&self, tenant: TenantId) -> NewJob {
        NewJob {
            image_uri: self.image_uri.clone(),
            commands: self.commands.clone(),
            max_retries: self.max_retries,
            queue: self.queue.clone(),
            priority: self.priority,
            ..NewJob::new(tenant)
        }
    }
}

impl Cell {
    /// The job spec recording this cell: `{"query":..,"surface":..,"location":..}`, without
    /// `location` when there is none.
    pub fn spec_json(&self) -> String {
        spec_json(&self.query, &self.surface, self.location.as_deref())
    }

    /// Reads a job's spec back to its cell; errors name `spec`.
    pub fn from_spec_json(json: &str) -> Result<Cell, DomainError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| invalid("spec", format!("is not JSON: {e}")))?;
        let mut map = object("spec", value)?;
        only_keys("spec", &map, &["query", "surface", "location"])?;
        let query = match map.remove("query") {
            Some(value) => string("spec", value)?,
            None => return Err(invalid("spec", "has no query")),
        };
        let surface = match map.remove("surface") {
            Some(value) => string("spec", value)?,
            None => return Err(invalid("spec", "has no surface")),
        };
        let location = match map.remove("location") {
            None | Some(Value::Null) => None,
            Some(value) => Some(string("spec", value)?),
        };
        Ok(Cell {
            query,
            surface,
            location,
        })
    }
}

/// A cell's spec JSON (see [`Cell::spec_json`]).
fn spec_json(query: &str, surface: &str, location: Option<&str>) -> String {
    let wire = CellWire {
        query,
        surface,
        location,
    };
    // Strings always serialise.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Checks one axis of the matrix. Surrounding whitespace is refused: results are grouped by
/// surface and query, and MySQL would compare `"google"` and `"google "` equal.
fn axis(field: &'static str, items: &[String], required: bool) -> Result<(), DomainError> {
    if required && items.is_empty() {
        return Err(invalid(field, "is empty, so the matrix is empty"));
    }
    let mut seen = HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        text::key(field, Some(item), MAX_AXIS_CHARS).map_err(|e| match e {
            DomainError::Validation { field, reason } => {
                invalid(field, format!("item {i}: {reason}"))
            }
            other => other,
        })?;
        if !seen.insert(item.as_str()) {
            return Err(invalid(
                field,
                format!("item {i} ({item:?}) is a duplicate"),
            ));
        }
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object(field: &'static str, value: Value) -> Result<Map<String, Value>, DomainError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(
            field,
            format!("must be an object, not {}", kind(&other)),
        )),
    }
}

fn only_keys(
    field: &'static str,
    map: &Map<String, Value>,
    known: &[&str],
) -> Result<(), DomainError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(
            field,
            format!(
                "has an unknown field {unknown:?} (known: {})",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn string(field: &'static str, value: Value) -> Result<String, DomainError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(invalid(
            field,
            format!("must be a string, not {}", kind(&other)),
        )),
    }
}

fn strings(field: &'static str, value: Value) -> Result<Vec<String>, DomainError> {
    let Value::Array(items) = value else {
        return Err(invalid(
            field,
            format!("must be an array of strings, not {}", kind(&value)),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s),
            other => Err(invalid(
                field,
                format!("item {i} must be a string, not {}", kind(&other)),
            )),
        })
        .collect()
}

fn int32(field: &'static str, value: &Value) -> Result<i32, DomainError> {
    value
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| {
            let what = match value {
                Value::Number(n) => format!("{n}"),
                other => kind(other).to_owned(),
            };
            invalid(field, format!("must be a 32-bit integer, not {what}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::new("t1").unwrap()
    }

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn manifest(queries: usize, surfaces: usize, locations: usize) -> Manifest {
        Manifest {
            template: ManifestTemplate {
                queue: "crawl".into(),
                image_uri: Some("gcr.io/p/crawler:1".into()),
                commands: vec!["run".into(), "--fast".into()],
                priority: 5,
                max_retries: 2,
            },
            queries: names("q", queries),
            surfaces: names("s", surfaces),
            locations: names("l", locations),
        }
    }

    fn refusal(json: &str) -> (&'static str, String) {
        match Manifest::parse(json).unwrap_err() {
            DomainError::Validation { field, reason } => (field, reason),
            other => panic!("not a validation error: {other}"),
        }
    }

    const OK: &str = r#"{"template": {"queue": "crawl", "imageUri": "gcr.io/p/c:1",
        "commands": ["run"], "priority": 1, "maxRetries": 2},
        "queries": ["a", "b"], "surfaces": ["x"], "locations": ["Paris"]}"#;

    #[test]
    fn a_manifest_parses_with_every_field() {
        let m = Manifest::parse(OK).unwrap();
        assert_eq!(m.template.queue, "crawl");
        assert_eq!(m.template.image_uri.as_deref(), Some("gcr.io/p/c:1"));
        assert_eq!(m.template.commands, ["run"]);
        assert_eq!((m.template.priority, m.template.max_retries), (1, 2));
        assert_eq!(
            (m.queries.len(), m.surfaces.len(), m.locations.len()),
            (2, 1, 1)
        );
    }

    #[test]
    fn template_fields_and_locations_are_optional_with_job_defaults() {
        let m =
            Manifest::parse(r#"{"template": {}, "queries": ["q"], "surfaces": ["s"]}"#).unwrap();
        assert_eq!(m.template, ManifestTemplate::default());
        assert_eq!(m.template.queue, "default");
        assert_eq!(m.template.max_retries, 3);
        assert!(m.locations.is_empty());
        assert_eq!(m.cell_count(), 1);
    }

    #[test]
    fn to_json_round_trips_through_parse() {
        for m in [
            manifest(3, 2, 0),
            manifest(2, 2, 3),
            Manifest::parse(OK).unwrap(),
        ] {
            assert_eq!(Manifest::parse(&m.to_json()).unwrap(), m);
        }
        let mut odd = manifest(1, 1, 0);
        odd.queries = vec!["quote \" and é\nand\ttab".into()];
        odd.template.image_uri = None;
        assert_eq!(Manifest::parse(&odd.to_json()).unwrap(), odd);
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let cases = [
            (r#"[]"#, "manifest"),
            (
                r#"{"template": [], "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template",
            ),
            (
                r#"{"template": {"queue": 1}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.queue",
            ),
            (
                r#"{"template": {"imageUri": true}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.imageUri",
            ),
            (
                r#"{"template": {"commands": "run"}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.commands",
            ),
            (
                r#"{"template": {"commands": ["run", 2]}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.commands",
            ),
            (
                r#"{"template": {"priority": "high"}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.priority",
            ),
            (
                r#"{"template": {"priority": 1.5}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.priority",
            ),
            (
                r#"{"template": {"priority": 3000000000}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.priority",
            ),
            (
                r#"{"template": {"maxRetries": "3"}, "queries": ["q"], "surfaces": ["s"]}"#,
                "manifest.template.maxRetries",
            ),
            (
                r#"{"template": {}, "queries": "q", "surfaces": ["s"]}"#,
                "manifest.queries",
            ),
            (
                r#"{"template": {}, "queries": ["q"], "surfaces": [{"s": 1}]}"#,
                "manifest.surfaces",
            ),
            (
                r#"{"template": {}, "queries": ["q"], "surfaces": ["s"], "locations": 3}"#,
                "manifest.locations",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(refusal(json).0, field, "{json}");
        }
    }

    #[test]
    fn a_wrong_item_is_named_by_its_index() {
        let (field, reason) =
            refusal(r#"{"template": {}, "queries": ["a", "b", 3], "surfaces": ["s"]}"#);
        assert_eq!(field, "manifest.queries");
        assert!(reason.contains("item 2"), "{reason}");
        assert!(reason.contains("not a number"), "{reason}");
    }

    #[test]
    fn a_missing_field_is_refused() {
        assert_eq!(
            refusal(r#"{"queries": ["q"], "surfaces": ["s"]}"#).0,
            "manifest.template"
        );
        assert_eq!(
            refusal(r#"{"template": {}, "surfaces": ["s"]}"#).0,
            "manifest.queries"
        );
        assert_eq!(
            refusal(r#"{"template": {}, "queries": ["q"]}"#).0,
            "manifest.surfaces"
        );
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let (field, reason) =
            refusal(r#"{"template": {}, "queries": ["q"], "surfaces": ["s"], "extra": 1}"#);
        assert_eq!(field, "manifest");
        assert!(reason.contains("\"extra\""), "{reason}");
        let (field, _) =
            refusal(r#"{"template": {"max_retries": 1}, "queries": ["q"], "surfaces": ["s"]}"#);
        assert_eq!(field, "manifest.template");
    }

    #[test]
    fn text_that_is_not_json_says_where() {
        let (field, reason) = refusal("{\"template\": {},\n \"queries\": [\"q\",]}");
        assert_eq!(field, "manifest");
        assert!(reason.contains("line 2"), "{reason}");
    }

    #[test]
    fn an_oversized_manifest_is_refused_before_parsing() {
        let json = " ".repeat(MAX_MANIFEST_BYTES + 1);
        let (field, reason) = refusal(&json);
        assert_eq!(field, "manifest");
        assert!(reason.contains("bytes"), "{reason}");
    }

    #[test]
    fn an_empty_matrix_is_refused() {
        let (field, reason) = refusal(r#"{"template": {}, "queries": [], "surfaces": ["s"]}"#);
        assert_eq!(field, "manifest.queries");
        assert!(reason.contains("matrix is empty"), "{reason}");
        let (field, _) = refusal(r#"{"template": {}, "queries": ["q"], "surfaces": []}"#);
        assert_eq!(field, "manifest.surfaces");
    }

    #[test]
    fn too_many_cells_are_refused_with_the_count() {
        // 400 × 16 × 16 = 102,400 cells from 432 strings.
        let m = manifest(400, 16, 16);
        let DomainError::Validation { field, reason } = m.validate().unwrap_err() else {
            panic!("not a validation error");
        };
        assert_eq!(field, "manifest");
        assert!(reason.contains("102400 cells"), "{reason}");
        assert!(Manifest::parse(&m.to_json()).is_err());
        assert!(m.jobs(&tenant(), now()).is_err());
        assert!(manifest(400, 16, 15).validate().is_ok());
    }

    #[test]
    fn entries_must_be_one_to_1024_characters_and_distinct() {
        let bad = |f: fn(&mut Manifest)| {
            let mut m = manifest(2, 2, 2);
            f(&mut m);
            match m.validate().unwrap_err() {
                DomainError::Validation { field, .. } => field,
                other => panic!("{other}"),
            }
        };
        assert_eq!(bad(|m| m.queries[1] = String::new()), "manifest.queries");
        assert_eq!(bad(|m| m.queries[1] = "   ".into()), "manifest.queries");
        assert_eq!(
            bad(|m| m.surfaces[1] = "google ".into()),
            "manifest.surfaces"
        );
        assert_eq!(
            bad(|m| m.surfaces[0] = "é".repeat(1025)),
            "manifest.surfaces"
        );
        assert_eq!(bad(|m| m.locations[1] = "l0".into()), "manifest.locations");
        assert_eq!(bad(|m| m.queries.push("q0".into())), "manifest.queries");
        assert_eq!(bad(|m| m.surfaces[0] = "a\0".into()), "manifest.surfaces");
        let mut m = manifest(1, 1, 0);
        m.queries = vec!["é".repeat(1024)];
        assert!(m.validate().is_ok());
    }

    #[test]
    fn the_template_is_checked_as_a_job_is() {
        let bad = |f: fn(&mut ManifestTemplate)| {
            let mut m = manifest(1, 1, 0);
            f(&mut m.template);
            match m.validate().unwrap_err() {
                DomainError::Validation { field, .. } => field,
                other => panic!("{other}"),
            }
        };
        assert_eq!(
            bad(|t| t.queue = "a queue".into()),
            "manifest.template.queue"
        );
        assert_eq!(bad(|t| t.queue = String::new()), "manifest.template.queue");
        assert_eq!(bad(|t| t.max_retries = -1), "manifest.template.maxRetries");
        assert_eq!(
            bad(|t| t.max_retries = 1001),
            "manifest.template.maxRetries"
        );
        assert_eq!(
            bad(|t| t.image_uri = Some("x".repeat(1025))),
            "manifest.template.imageUri"
        );
        assert_eq!(
            bad(|t| t.commands = vec!["a\0".into()]),
            "manifest.template.commands"
        );
    }

    #[test]
    fn cells_run_query_major_then_surface_then_location() {
        let m = manifest(2, 2, 2);
        let order: Vec<(String, String, Option<String>)> = m
            .cells()
            .map(|c| (c.query, c.surface, c.location))
            .collect();
        let cell = |q: &str, s: &str, l: &str| (q.to_owned(), s.to_owned(), Some(l.to_owned()));
        assert_eq!(
            order,
            [
                cell("q0", "s0", "l0"),
                cell("q0", "s0", "l1"),
                cell("q0", "s1", "l0"),
                cell("q0", "s1", "l1"),
                cell("q1", "s0", "l0"),
                cell("q1", "s0", "l1"),
                cell("q1", "s1", "l0"),
                cell("q1", "s1", "l1"),
            ]
        );
        assert_eq!(m.cells().count(), m.cell_count());
    }

    #[test]
    fn without_locations_each_cell_has_none() {
        let m = manifest(2, 3, 0);
        assert_eq!(m.cell_count(), 6);
        assert!(m.cells().all(|c| c.location.is_none()));
    }

    #[test]
    fn a_cell_spec_names_its_query_surface_and_location() {
        let cell = Cell {
            query: "best \"pizza\"".into(),
            surface: "google".into(),
            location: Some("Paris".into()),
        };
        assert_eq!(
            cell.spec_json(),
            r#"{"query":"best \"pizza\"","surface":"google","location":"Paris"}"#
        );
        assert_eq!(Cell::from_spec_json(&cell.spec_json()).unwrap(), cell);
        let nowhere = Cell {
            location: None,
            ..cell
        };
        assert_eq!(
            nowhere.spec_json(),
            r#"{"query":"best \"pizza\"","surface":"google"}"#
        );
        assert_eq!(Cell::from_spec_json(&nowhere.spec_json()).unwrap(), nowhere);
        assert!(Cell::from_spec_json(r#"{"query":"q"}"#).is_err());
        assert!(Cell::from_spec_json(r#"{"query":"q","surface":"s","x":1}"#).is_err());
    }

    #[test]
    fn jobs_are_pending_one_per_cell_from_the_template() {
        let m = manifest(2, 2, 2);
        let jobs = m.jobs(&tenant(), now()).unwrap();
        assert_eq!(jobs.len(), 8);
        for (job, cell) in jobs.iter().zip(m.cells()) {
            assert_eq!(job.status, crate::JobStatus::Pending);
            assert_eq!(job.tenant_id, tenant());
            assert_eq!(job.queue, "crawl");
            assert_eq!(job.image_uri.as_deref(), Some("gcr.io/p/crawler:1"));
            assert_eq!(job.commands, ["run", "--fast"]);
            assert_eq!((job.priority, job.max_retries), (5, 2));
            assert_eq!(job.spec.as_deref(), Some(cell.spec_json().as_str()));
            assert_eq!(job.output_prefix, format!("jobs/{}/1/", job.id));
        }
    }

    #[test]
    fn every_job_equals_the_one_new_job_would_build() {
        let m = manifest(3, 2, 0);
        for (job, cell) in m.jobs(&tenant(), now()).unwrap().into_iter().zip(m.cells()) {
            let built = NewJob {
                id: Some(job.id.clone()),
                spec: Some(cell.spec_json()),
                ..m.template.new_job(tenant())
            }
            .into_job(now())
            .unwrap();
            assert_eq!(job, built);
        }
    }

    #[test]
    fn a_100000_cell_manifest_builds_100000_distinct_jobs() {
        // 1000 queries × 10 surfaces × 10 locations.
        let m = manifest(1000, 10, 10);
        assert_eq!(m.cell_count(), MAX_CELLS);
        let m = Manifest::parse(&m.to_json()).unwrap();
        let jobs = m.jobs(&tenant(), now()).unwrap();
        assert_eq!(jobs.len(), MAX_CELLS);
        let ids: HashSet<&JobId> = jobs.iter().map(|j| &j.id).collect();
        assert_eq!(ids.len(), MAX_CELLS);
        let specs: HashSet<&str> = jobs.iter().filter_map(|j| j.spec.as_deref()).collect();
        assert_eq!(specs.len(), MAX_CELLS);
        let last = jobs.last().unwrap();
        assert_eq!(
            Cell::from_spec_json(last.spec.as_deref().unwrap()).unwrap(),
            Cell {
                query: "q999".into(),
                surface: "s9".into(),
                location: Some("l9".into()),
            }
        );
    }
}
