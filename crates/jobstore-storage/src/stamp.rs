//! The one time type of the schema: UTC to the microsecond, bound as each backend's own
//! zone-less time type. (MySQL's bind type for diesel's `Timestamp` is `TIMESTAMP`, which
//! MariaDB turns into NULL outside 1970-2038; `DATETIME` holds years 1000 to 9999.)

use chrono::NaiveDateTime;
use diesel::{
    backend::Backend,
    deserialize::{self, FromSql, FromSqlRow},
    expression::AsExpression,
    serialize::{self, IsNull, Output, ToSql},
    sql_types::{HasSqlType, SqlType},
};

use crate::connection::MultiBackend;

/// The SQL type of every time column.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1114, array_oid = 1115))]
#[diesel(mysql_type(name = "DateTime"))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UtcDateTime;

/// A time as stored: UTC, without a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = UtcDateTime)]
pub(crate) struct Stamp(pub(crate) NaiveDateTime);

impl HasSqlType<UtcDateTime> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<UtcDateTime>(lookup)
    }
}

impl ToSql<UtcDateTime, MultiBackend> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((UtcDateTime, self));
        Ok(IsNull::No)
    }
}

impl FromSql<UtcDateTime, MultiBackend> for Stamp {
    fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        bytes.from_sql::<Stamp, UtcDateTime>()
    }
}

/// Delegates a backend's conversions to its own time type.
macro_rules! stamp_as {
    ($feature:literal, $backend:ty, $sql_type:ty) => {
        #[cfg(feature = $feature)]
        impl ToSql<UtcDateTime, $backend> for Stamp {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, $backend>) -> serialize::Result {
                <NaiveDateTime as ToSql<$sql_type, $backend>>::to_sql(&self.0, out)
            }
        }

        #[cfg(feature = $feature)]
        impl FromSql<UtcDateTime, $backend> for Stamp {
            fn from_sql(bytes: <$backend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                <NaiveDateTime as FromSql<$sql_type, $backend>>::from_sql(bytes).map(Stamp)
            }
        }
    };
}

stamp_as!("postgres", diesel::pg::Pg, diesel::sql_types::Timestamp);
stamp_as!(
    "mysql",
    diesel::mysql::Mysql,
    diesel::mysql::sql_types::Datetime
);
stamp_as!(
    "sqlite",
    diesel::sqlite::Sqlite,
    diesel::sql_types::Timestamp
);
