//! The parts of a server URL that tools outside diesel need: a TCP probe of the server, and
//! pgbench's connection options.

/// Where a `postgres://`, `mysql://` or `mariadb://` URL points:
/// `scheme://[user[:password]@][host][:port][/database][?params]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerAddress {
    /// None when the URL names no host (libpq then uses its Unix socket).
    pub(crate) host: Option<String>,
    /// The URL's port, else the scheme's standard one.
    pub(crate) port: u16,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) database: Option<String>,
}

impl ServerAddress {
    /// Parses `url`; percent-escapes in the user, password and database are decoded.
    pub(crate) fn parse(url: &str) -> Result<ServerAddress, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not a server URL"))?;
        let default_port = match scheme {
            "postgres" | "postgresql" => 5432,
            "mysql" | "mariadb" => 3306,
            other => return Err(format!("{other}:// is not a server URL scheme")),
        };
        let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (user, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
            Some((user, password)) => (non_empty(decode(user)?), non_empty(decode(password)?)),
            None => (None, None),
        };
        // An IPv6 host is bracketed: [::1]:5432.
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(port) => port
                .parse()
                .map_err(|_| format!("{url:?}: {port:?} is not a port"))?,
            None => default_port,
        };
        Ok(ServerAddress {
            host: non_empty(host.to_owned()),
            port,
            user,
            password,
            database: non_empty(decode(database)?),
        })
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Decodes `%XX` escapes.
fn decode(text: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = after
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{text:?}: a % escape needs two hex digits"))?;
            bytes.push(hex);
            rest = &after[2..];
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("{text:?}: escapes that are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::ServerAddress;

    #[test]
    fn every_part_is_read() {
        assert_eq!(
            ServerAddress::parse("postgres://bench:s%40cret@db.example:6543/jobs?sslmode=disable"),
            Ok(ServerAddress {
                host: Some("db.example".into()),
                port: 6543,
                user: Some("bench".into()),
                password: Some("s@cret".into()),
                database: Some("jobs".into()),
            })
        );
    }

    #[test]
    fn missing_parts_take_the_schemes_defaults() {
        let address = ServerAddress::parse("mysql://root@127.0.0.1").expect("a valid URL");
        assert_eq!(address.port, 3306);
        assert_eq!(address.user.as_deref(), Some("root"));
        assert_eq!(address.password, None);
        assert_eq!(address.database, None);
        let socket = ServerAddress::parse("postgresql:///test").expect("a valid URL");
        assert_eq!((socket.host, socket.port), (None, 5432));
        assert_eq!(socket.database.as_deref(), Some("test"));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let address = ServerAddress::parse("postgres://u@[::1]:5433/d").expect("a valid URL");
        assert_eq!((address.host.as_deref(), address.port), (Some("::1"), 5433));
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(ServerAddress::parse("jobstore.db").is_err());
        assert!(ServerAddress::parse("oracle://h/d").is_err());
        assert!(ServerAddress::parse("postgres://h:port/d").is_err());
    }
}
