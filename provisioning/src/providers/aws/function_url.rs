//! A Lambda function URL (`aws:lambda:function-url`): the function's own HTTPS endpoint, with its
//! CORS settings, and the statements of the function's resource-based policy that let anyone call
//! a public (`AuthType NONE`) URL. Physical name: the function's name (a function has one
//! unqualified URL).
//!
//! A public URL needs two statements since October 2025: `lambda:InvokeFunctionUrl` for
//! principal `*` when `lambda:FunctionUrlAuthType` is `NONE`, and `lambda:InvokeFunction` for
//! principal `*` when `lambda:InvokedViaFunctionUrl` is true (so the second one allows nothing
//! but calls through the URL).

use async_trait::async_trait;
use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType, InvokeMode};
use serde::{Deserialize, Serialize};

use super::{
    BUSY_RETRY_TIMEOUT, OUT_ARN, absent_if, aws_err, changes_field, clients, gone_if, parse_policy,
    reread, retry_transient,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, observed_as, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:lambda:function-url";
/// Output key: the URL (`https://<id>.lambda-url.<region>.on.aws/`).
pub const OUT_URL: &str = "url";
/// `AuthType` of a public URL.
pub const AUTH_NONE: &str = "NONE";
/// The condition key AWS writes for [`UrlPermission::function_url_auth_type`].
const AUTH_TYPE_KEY: &str = "lambda:FunctionUrlAuthType";
/// The condition key AWS writes for [`UrlPermission::invoked_via_function_url`].
const VIA_URL_KEY: &str = "lambda:InvokedViaFunctionUrl";

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Who may call the URL's browser clients from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsProps {
    /// Allowed origins, sorted.
    pub allow_origins: Vec<String>,
    /// Allowed methods, upper case, sorted.
    pub allow_methods: Vec<String>,
    /// Allowed request headers, lower case, sorted.
    pub allow_headers: Vec<String>,
    /// Response headers browsers may read, lower case, sorted.
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer.
    pub max_age_secs: i32,
    /// Whether cookies and credentials are allowed.
    pub allow_credentials: bool,
}

impl CorsProps {
    /// The settings as compared: lists sorted, methods upper case, headers lower case (HTTP
    /// header names are case-insensitive; Lambda keeps them as given).
    #[must_use]
    pub fn normalized(mut self) -> Self {
        let sort = |v: &mut Vec<String>, f: fn(&str) -> String| {
            *v = v.iter().map(|s| f(s.as_str())).collect();
            v.sort();
            v.dedup();
        };
        sort(&mut self.allow_origins, str::to_owned);
        sort(&mut self.allow_methods, str::to_ascii_uppercase);
        sort(&mut self.allow_headers, str::to_ascii_lowercase);
        sort(&mut self.expose_headers, str::to_ascii_lowercase);
        self
    }

    fn to_sdk(&self) -> Cors {
        Cors::builder()
            .set_allow_origins(Some(self.allow_origins.clone()))
            .set_allow_methods(Some(self.allow_methods.clone()))
            .set_allow_headers(Some(self.allow_headers.clone()))
            .set_expose_headers(Some(self.expose_headers.clone()))
            .max_age(self.max_age_secs)
            .allow_credentials(self.allow_credentials)
            .build()
    }

    fn from_sdk(c: &Cors) -> Self {
        Self {
            allow_origins: c.allow_origins().to_vec(),
            allow_methods: c.allow_methods().to_vec(),
            allow_headers: c.allow_headers().to_vec(),
            expose_headers: c.expose_headers().to_vec(),
            max_age_secs: c.max_age().unwrap_or_default(),
            allow_credentials: c.allow_credentials().unwrap_or(false),
        }
        .normalized()
    }
}

/// One statement of the function's resource-based policy (`AddPermission`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlPermission {
    /// Statement id.
    pub sid: String,
    /// `lambda:InvokeFunctionUrl` or `lambda:InvokeFunction`.
    pub action: String,
    /// `*` for a public URL.
    pub principal: String,
    /// Applies only to URLs of this auth type (`lambda:FunctionUrlAuthType`).
    pub function_url_auth_type: Option<String>,
    /// Applies only to calls through a function URL (`lambda:InvokedViaFunctionUrl`).
    pub invoked_via_function_url: Option<bool>,
}

impl UrlPermission {
    /// A statement as `GetPolicy` returns it, if it concerns function URLs or has one of
    /// `sids`. AWS turns `FunctionUrlAuthType` and `InvokedViaFunctionUrl` into conditions;
    /// moto keeps them as the request's top-level fields: both are read.
    fn from_statement(st: &serde_json::Value, sids: &[&str]) -> Option<Self> {
        let text = |v: Option<&serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Array(a)) if a.len() == 1 => {
                a.first().and_then(|v| v.as_str()).map(str::to_owned)
            }
            Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let condition = |op: &str, key: &str| text(st.pointer(&format!("/Condition/{op}/{key}")));
        let sid = text(st.get("Sid"))?;
        let action = text(st.get("Action")).unwrap_or_default();
        let principal = match st.get("Principal") {
            Some(serde_json::Value::Object(o)) => text(o.get("AWS")).unwrap_or_default(),
            other => text(other).unwrap_or_default(),
        };
        let function_url_auth_type = condition("StringEquals", AUTH_TYPE_KEY)
            .or_else(|| text(st.get("FunctionUrlAuthType")));
        let invoked_via_function_url = condition("Bool", VIA_URL_KEY)
            .or_else(|| text(st.get("InvokedViaFunctionUrl")))
            .map(|v| v.eq_ignore_ascii_case("true"));
        let about_urls = action == "lambda:InvokeFunctionUrl"
            || function_url_auth_type.is_some()
            || invoked_via_function_url.is_some();
        (about_urls || sids.contains(&sid.as_str())).then_some(Self {
            sid,
            action,
            principal,
            function_url_auth_type,
            invoked_via_function_url,
        })
    }
}

/// Desired (and observed) settings of a function URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionUrlProps {
    /// The function's name.
    pub function_name: String,
    /// `NONE` (public) or `AWS_IAM`.
    pub auth_type: String,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
    /// CORS settings; `None` answers no preflight.
    pub cors: Option<CorsProps>,
    /// The function-URL statements of the function's policy, sorted by `sid`.
    pub permissions: Vec<UrlPermission>,
}

/// The public statements a function URL with auth type `NONE` needs.
#[must_use]
pub fn public_url_permissions() -> Vec<UrlPermission> {
    vec![
        // Invocations through the URL also need lambda:InvokeFunction (AWS, October 2025),
        // allowed here only for calls made through a function URL.
        UrlPermission {
            sid: "FunctionURLAllowInvokeAction".into(),
            action: "lambda:InvokeFunction".into(),
            principal: "*".into(),
            function_url_auth_type: None,
            invoked_via_function_url: Some(true),
        },
        UrlPermission {
            sid: "FunctionURLAllowPublicAccess".into(),
            action: "lambda:InvokeFunctionUrl".into(),
            principal: "*".into(),
            function_url_auth_type: Some(AUTH_NONE.into()),
            invoked_via_function_url: None,
        },
    ]
}

/// The function URL kind.
#[derive(Debug, Default)]
pub struct FunctionUrl;

/// Lambda refuses a policy change while another change of the same function is in progress.
fn is_busy(e: &ProvisionError) -> bool {
    matches!(e, ProvisionError::Provider { code, message, .. }
        if code == "ResourceConflictException" && message.contains("in progress"))
}

async fn read_permissions(
    cx: &Cx,
    function: &str,
    sids: &[&str],
) -> Result<Vec<UrlPermission>, ProvisionError> {
    let out = absent_if(
        clients(cx)?
            .lambda
            .get_policy()
            .function_name(function)
            .send()
            .await
            .map_err(aws_err("read the policy of Lambda function", function)),
        NOT_FOUND,
    )?;
    let doc = out
        .as_ref()
        .and_then(|o| o.policy())
        .map_or(serde_json::Value::Null, parse_policy);
    let mut found: Vec<UrlPermission> = doc
        .get("Statement")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|st| UrlPermission::from_statement(st, sids))
        .collect();
    found.sort_by(|a, b| a.sid.cmp(&b.sid));
    Ok(found)
}

/// Removes the statements `seen` has and `want` has not (or has otherwise), then adds those
/// `want` has and `seen` has not.
async fn sync_permissions(
    cx: &Cx,
    function: &str,
    want: &[UrlPermission],
    seen: &[UrlPermission],
) -> Result<(), ProvisionError> {
    let l = &clients(cx)?.lambda;
    for s in seen.iter().filter(|s| !want.contains(s)) {
        remove_permission(cx, function, &s.sid).await?;
    }
    for w in want.iter().filter(|w| !seen.contains(w)) {
        retry_transient(BUSY_RETRY_TIMEOUT, is_busy, || async {
            l.add_permission()
                .function_name(function)
                .statement_id(&w.sid)
                .action(&w.action)
                .principal(&w.principal)
                .set_function_url_auth_type(
                    w.function_url_auth_type
                        .as_deref()
                        .map(FunctionUrlAuthType::from),
                )
                .set_invoked_via_function_url(w.invoked_via_function_url)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("add a permission to Lambda function", function))
        })
        .await?;
    }
    Ok(())
}

async fn remove_permission(cx: &Cx, function: &str, sid: &str) -> Result<(), ProvisionError> {
    let l = &clients(cx)?.lambda;
    gone_if(
        retry_transient(BUSY_RETRY_TIMEOUT, is_busy, || async {
            l.remove_permission()
                .function_name(function)
                .statement_id(sid)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err(
                    "remove a permission from Lambda function",
                    function,
                ))
        })
        .await,
        NOT_FOUND,
    )
}

#[async_trait]
impl ResourceKind for FunctionUrl {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "Lambda function URL"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let want: FunctionUrlProps = from_fields(spec)?;
        let name = &want.function_name;
        let out = absent_if(
            clients(cx)?
                .lambda
                .get_function_url_config()
                .function_name(name)
                .send()
                .await
                .map_err(aws_err("read the function URL of", name)),
            NOT_FOUND,
        )?;
        let Some(c) = out else { return Ok(None) };
        let sids: Vec<&str> = want.permissions.iter().map(|p| p.sid.as_str()).collect();
        let seen = FunctionUrlProps {
            // arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]
            function_name: c
                .function_arn()
                .split(':')
                .nth(6)
                .unwrap_or_default()
                .to_owned(),
            auth_type: c.auth_type().as_str().to_owned(),
            invoke_mode: c
                .invoke_mode()
                .map_or("BUFFERED", InvokeMode::as_str)
                .to_ascii_uppercase(),
            cors: c.cors().map(CorsProps::from_sdk),
            permissions: read_permissions(cx, name, &sids).await?,
        };
        Ok(Some(Observed {
            physical_name: spec.physical_name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_URL.to_owned(), c.function_url().to_owned()),
                (OUT_ARN.to_owned(), c.function_arn().to_owned()),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &["function_name"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: FunctionUrlProps = from_fields(spec)?;
        let name = &p.function_name;
        clients(cx)?
            .lambda
            .create_function_url_config()
            .function_name(name)
            .auth_type(FunctionUrlAuthType::from(p.auth_type.as_str()))
            .invoke_mode(InvokeMode::from(p.invoke_mode.as_str()))
            .set_cors(p.cors.as_ref().map(CorsProps::to_sdk))
            .send()
            .await
            .map_err(aws_err("create the function URL of", name))?;
        // The statements may have outlived a URL deleted out of band: add only what is missing.
        let sids: Vec<&str> = p.permissions.iter().map(|s| s.sid.as_str()).collect();
        let seen = read_permissions(cx, name, &sids).await?;
        sync_permissions(cx, name, &p.permissions, &seen).await?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: FunctionUrlProps = from_fields(spec)?;
        let name = &p.function_name;
        if ["auth_type", "invoke_mode", "cors"]
            .iter()
            .any(|f| changes_field(change, f))
        {
            clients(cx)?
                .lambda
                .update_function_url_config()
                .function_name(name)
                .auth_type(FunctionUrlAuthType::from(p.auth_type.as_str()))
                .invoke_mode(InvokeMode::from(p.invoke_mode.as_str()))
                // Without CORS settings, an empty configuration clears the old one.
                .cors(
                    p.cors
                        .as_ref()
                        .map_or_else(|| Cors::builder().build(), CorsProps::to_sdk),
                )
                .send()
                .await
                .map_err(aws_err("update the function URL of", name))?;
        }
        if changes_field(change, "permissions") {
            let old: FunctionUrlProps = observed_as(seen)?;
            sync_permissions(cx, name, &p.permissions, &old.permissions).await?;
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let old: FunctionUrlProps = observed_as(seen)?;
        let name = &old.function_name;
        gone_if(
            clients(cx)?
                .lambda
                .delete_function_url_config()
                .function_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete the function URL of", name)),
            NOT_FOUND,
        )?;
        for s in &old.permissions {
            remove_permission(cx, name, &s.sid).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;
    use serde_json::json;

    fn url() -> FunctionUrlProps {
        FunctionUrlProps {
            function_name: "fashion-dev-api".into(),
            auth_type: AUTH_NONE.into(),
            invoke_mode: "BUFFERED".into(),
            cors: Some(
                CorsProps {
                    allow_origins: vec!["*".into()],
                    allow_methods: vec!["POST".into(), "GET".into()],
                    allow_headers: vec!["Content-Type".into(), "content-encoding".into()],
                    expose_headers: vec!["retry-after".into()],
                    max_age_secs: 600,
                    allow_credentials: false,
                }
                .normalized(),
            ),
            permissions: public_url_permissions(),
        }
    }

    fn spec(p: &FunctionUrlProps) -> ResourceSpec {
        fixtures::declared(
            "aws::aws:lambda:function-url::api",
            KIND,
            "fashion-dev-api",
            p,
        )
    }

    fn seen(p: &FunctionUrlProps) -> Observed {
        fixtures::observed("fashion-dev-api", p)
    }

    #[test]
    fn an_unchanged_url_is_the_same_and_changed_cors_updates_in_place() {
        // Arrange
        let mut wider = url();
        if let Some(c) = wider.cors.as_mut() {
            c.allow_methods.push("DELETE".into());
        }
        // Act / Assert
        assert_eq!(FunctionUrl.diff(&spec(&url()), &seen(&url())), Change::Same);
        let Change::Update { fields } = FunctionUrl.diff(&spec(&url()), &seen(&wider)) else {
            panic!("expected an update")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["cors"]);
    }

    #[test]
    fn a_missing_public_statement_is_an_update_and_another_function_a_replacement() {
        let mut private = url();
        private.permissions.truncate(1);
        let Change::Update { fields } = FunctionUrl.diff(&spec(&url()), &seen(&private)) else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "permissions");
        let mut moved = url();
        moved.function_name = "other".into();
        assert_eq!(
            FunctionUrl.diff(&spec(&url()), &seen(&moved)),
            Change::Replace {
                field: "function_name".into()
            }
        );
    }

    #[test]
    fn cors_compares_headers_without_case_and_lists_without_order() {
        let a = url().cors.unwrap();
        let b = CorsProps {
            allow_methods: vec!["get".into(), "post".into()],
            allow_headers: vec!["CONTENT-ENCODING".into(), "content-type".into()],
            ..a.clone()
        }
        .normalized();
        assert_eq!(a, b);
        assert_eq!(a.allow_methods, ["GET", "POST"]);
    }

    #[test]
    fn statements_read_the_same_from_aws_conditions_and_from_moto_fields() {
        // As AWS returns them.
        let aws = [
            json!({"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*",
                   "Action": "lambda:InvokeFunctionUrl", "Resource": "arn:aws:lambda:r:1:function:f",
                   "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}),
            json!({"Sid": "FunctionURLAllowInvokeAction", "Effect": "Allow", "Principal": "*",
                   "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:r:1:function:f",
                   "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}),
        ];
        // As moto stores the AddPermission request.
        let moto = [
            json!({"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*",
                   "Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"}),
            json!({"Sid": "FunctionURLAllowInvokeAction", "Effect": "Allow", "Principal": "*",
                   "Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": true}),
        ];
        let read = |sts: &[serde_json::Value]| {
            let mut v: Vec<UrlPermission> = sts
                .iter()
                .filter_map(|s| UrlPermission::from_statement(s, &[]))
                .collect();
            v.sort_by(|a, b| a.sid.cmp(&b.sid));
            v
        };
        assert_eq!(read(&aws), public_url_permissions());
        assert_eq!(read(&moto), public_url_permissions());
        // Statements about other callers (a scheduler, an S3 trigger) are not the URL's.
        let other = json!({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                           "Action": "lambda:InvokeFunction"});
        assert_eq!(UrlPermission::from_statement(&other, &[]), None);
        assert!(UrlPermission::from_statement(&other, &["s3"]).is_some());
    }
}
