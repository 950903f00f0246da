//! Kurento and JSON-RPC error codes, with the `data.type` names KMS sends.

use serde_json::{json, Value};
use std::fmt;

/// Every error code KMS can answer with (`KurentoException.hpp`, `JsonRpcException.hpp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    /// -32000: KMS's generic "server error" (missing/mistyped top-level params).
    ServerError,
    MarshallError,
    UnexpectedError,
    ConnectError,
    UnsupportedMediaType,
    NotImplemented,
    InvalidSession,
    MalformedTransaction,
    NotEnoughResources,
    MediaObjectTypeNotFound,
    MediaObjectNotFound,
    MediaObjectConstructorNotFound,
    MediaObjectMethodNotFound,
    MediaObjectEventNotSupported,
    MediaObjectIllegalParamError,
    MediaObjectNotAvailable,
    MediaObjectNotFoundTransactionNoCommit,
    MediaObjectTagKeyNotFound,
    MediaObjectOperationNotSupported,
    SdpCreateError,
    SdpParseError,
    SdpEndPointNoLocalSdpError,
    SdpEndPointNoRemoteSdpError,
    SdpEndPointGenerateOfferError,
    SdpEndPointProcessOfferError,
    SdpEndPointProcessAnswerError,
    SdpConfigurationError,
    SdpEndPointAlreadyNegotiated,
    SdpEndPointNotOfferGenerated,
    SdpEndPointAnswerAlreadyProcessed,
    SdpEndPointCannotCreateSession,
    HttpEndPointRegistrationError,
    IceGatherCandidatesError,
    IceAddCandidateError,
    ServerManagerErrorKmdNotFound,
    UriPathFileNotFound,
    PlayerSeekFail,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> i64 {
        use ErrorCode::*;
        match self {
            ParseError => -32700,
            InvalidRequest => -32600,
            MethodNotFound => -32601,
            InvalidParams => -32602,
            InternalError => -32603,
            ServerError => -32000,
            MarshallError => 40001,
            UnexpectedError => 40003,
            ConnectError => 40004,
            UnsupportedMediaType => 40005,
            NotImplemented => 40006,
            InvalidSession => 40007,
            MalformedTransaction => 40008,
            NotEnoughResources => 40009,
            MediaObjectTypeNotFound => 40100,
            MediaObjectNotFound => 40101,
            MediaObjectConstructorNotFound => 40104,
            MediaObjectMethodNotFound => 40105,
            MediaObjectEventNotSupported => 40106,
            MediaObjectIllegalParamError => 40107,
            MediaObjectNotAvailable => 40108,
            MediaObjectNotFoundTransactionNoCommit => 40109,
            MediaObjectTagKeyNotFound => 40110,
            MediaObjectOperationNotSupported => 40111,
            SdpCreateError => 40200,
            SdpParseError => 40201,
            SdpEndPointNoLocalSdpError => 40202,
            SdpEndPointNoRemoteSdpError => 40203,
            SdpEndPointGenerateOfferError => 40204,
            SdpEndPointProcessOfferError => 40205,
            SdpEndPointProcessAnswerError => 40206,
            SdpConfigurationError => 40207,
            SdpEndPointAlreadyNegotiated => 40208,
            SdpEndPointNotOfferGenerated => 40209,
            SdpEndPointAnswerAlreadyProcessed => 40210,
            SdpEndPointCannotCreateSession => 40211,
            HttpEndPointRegistrationError => 40300,
            IceGatherCandidatesError => 40400,
            IceAddCandidateError => 40401,
            ServerManagerErrorKmdNotFound => 40500,
            UriPathFileNotFound => 40600,
            PlayerSeekFail => 40700,
        }
    }

    /// The `data.type` name KMS sends; `None` where KMS sends no `data`
    /// (-32000 and -32601). KMS has no name for 40500 and sends `UNDEFINED`.
    pub fn type_name(self) -> Option<&'static str> {
        use ErrorCode::*;
        Some(match self {
            ParseError => "PARSE_ERROR",
            InvalidRequest => "INVALID_REQUEST",
            MethodNotFound | ServerError => return None,
            InvalidParams => "INVALID_PARAMS",
            InternalError => "INTERNAL_ERROR",
            MarshallError => "MARSHALL_ERROR",
            UnexpectedError => "UNEXPECTED_ERROR",
            ConnectError => "CONNECT_ERROR",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            NotImplemented => "NOT_IMPLEMENTED",
            InvalidSession => "INVALID_SESSION",
            MalformedTransaction => "MALFORMED_TRANSACTION",
            NotEnoughResources => "NOT_ENOUGH_RESOURCES",
            MediaObjectTypeNotFound => "MEDIA_OBJECT_TYPE_NOT_FOUND",
            MediaObjectNotFound => "MEDIA_OBJECT_NOT_FOUND",
            MediaObjectConstructorNotFound => "MEDIA_OBJECT_CONSTRUCTOR_NOT_FOUND",
            MediaObjectMethodNotFound => "MEDIA_OBJECT_METHOD_NOT_FOUND",
            MediaObjectEventNotSupported => "MEDIA_OBJECT_EVENT_NOT_SUPPORTED",
            MediaObjectIllegalParamError => "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR",
            MediaObjectNotAvailable => "MEDIA_OBJECT_NOT_AVAILABLE",
            MediaObjectNotFoundTransactionNoCommit => "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT",
            MediaObjectTagKeyNotFound => "MEDIA_OBJECT_TAG_KEY_NOT_FOUND",
            MediaObjectOperationNotSupported => "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED",
            SdpCreateError => "SDP_CREATE_ERROR",
            SdpParseError => "SDP_PARSE_ERROR",
            SdpEndPointNoLocalSdpError => "SDP_END_POINT_NO_LOCAL_SDP_ERROR",
            SdpEndPointNoRemoteSdpError => "SDP_END_POINT_NO_REMOTE_SDP_ERROR",
            SdpEndPointGenerateOfferError => "SDP_END_POINT_GENERATE_OFFER_ERROR",
            SdpEndPointProcessOfferError => "SDP_END_POINT_PROCESS_OFFER_ERROR",
            SdpEndPointProcessAnswerError => "SDP_END_POINT_PROCESS_ANSWER_ERROR",
            SdpConfigurationError => "SDP_CONFIGURATION_ERROR",
            SdpEndPointAlreadyNegotiated => "SDP_END_POINT_ALREADY_NEGOTIATED",
            SdpEndPointNotOfferGenerated => "SDP_END_POINT_NOT_OFFER_GENERATED",
            // The misspellings are KMS's wire names.
            SdpEndPointAnswerAlreadyProcessed => "SDP_END_POINT_ANSWER_ALREADY_PROCCESED",
            SdpEndPointCannotCreateSession => "SDP_END_POINT_CANNOT_CREATE_SESSON",
            HttpEndPointRegistrationError => "HTTP_END_POINT_REGISTRATION_ERROR",
            IceGatherCandidatesError => "ICE_GATHER_CANDIDATES_ERROR",
            IceAddCandidateError => "ICE_ADD_CANDIDATE_ERROR",
            ServerManagerErrorKmdNotFound => "UNDEFINED",
            UriPathFileNotFound => "URI_PATH_FILE_NOT_FOUND",
            PlayerSeekFail => "PLAYER_SEEK_FAIL",
        })
    }
}

/// An error answered to a request: `{"code", "message", "data": {"type"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct KurentoError {
    pub code: ErrorCode,
    pub message: String,
}

impl KurentoError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KurentoError { code, message: message.into() }
    }

    /// 40101 `Object '<id>' not found`, as KMS's MediaSet answers.
    pub fn object_not_found(id: &str) -> Self {
        Self::new(ErrorCode::MediaObjectNotFound, format!("Object '{id}' not found"))
    }

    /// 40006 for IDL methods whose behaviour is not built yet. Never a fake success.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(ErrorCode::NotImplemented, format!("{what} is not implemented yet by this server"))
    }

    /// 40001 for a bad or missing parameter.
    pub fn marshall(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MarshallError, message)
    }

    /// The JSON `error` member.
    pub fn to_json(&self) -> Value {
        let mut e = json!({ "code": self.code.code(), "message": self.message });
        if let Some(name) = self.code.type_name() {
            e["data"] = json!({ "type": name });
        }
        e
    }
}

impl fmt::Display for KurentoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code())
    }
}

impl std::error::Error for KurentoError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_has_kms_shape() {
        let e = KurentoError::object_not_found("x_kurento.MediaPipeline").to_json();
        assert_eq!(e["code"], 40101);
        assert_eq!(e["data"]["type"], "MEDIA_OBJECT_NOT_FOUND");
        assert!(e["message"].as_str().unwrap().contains(" not found"));
    }

    #[test]
    fn method_not_found_has_no_data() {
        let e = KurentoError::new(ErrorCode::MethodNotFound, "Method not found.").to_json();
        assert_eq!(e["code"], -32601);
        assert!(e.get("data").is_none());
    }
}
