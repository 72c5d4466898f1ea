//! Database URLs: pointing a server's URL at another database, and hiding passwords in output.

/// `url` with its database (the path) replaced by `database`, keeping any `?` parameters.
///
/// ```
/// use jobstore_testkit::with_database;
///
/// assert_eq!(
///     with_database("mysql://root:pw@db:3306/test?ssl_mode=DISABLED", "scratch"),
///     "mysql://root:pw@db:3306/scratch?ssl_mode=DISABLED"
/// );
/// assert_eq!(with_database("postgres://db", "scratch"), "postgres://db/scratch");
/// ```
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` without its password, to print.
///
/// ```
/// use jobstore_testkit::redact;
///
/// assert_eq!(redact("mysql://root:secret@db:3306/test"), "mysql://root:***@db:3306/test");
/// assert_eq!(redact("postgres://postgres@db/test"), "postgres://postgres@db/test");
/// ```
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}
