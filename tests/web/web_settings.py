"""App settings shared by the web and browser tests."""

# Settings that would otherwise come from the environment of whoever runs the tests: no keys, no rate limit.
ISOLATED = {
    "FACEPRINT_ADMIN_KEY": None,
    "FACEPRINT_RECOGNIZE_KEY": None,
    "FACEPRINT_API_KEYS_FILE": None,
    "FACEPRINT_RATE_LIMIT": "off",
    "FACEPRINT_MAX_UPLOAD_MB": None,
    "FACEPRINT_MAX_PIXELS": None,
    "FACEPRINT_TRUSTED_PROXIES": None,
}
