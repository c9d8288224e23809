"""X-Twilio-Signature: checked over PUBLIC_BASE_URL + path (+ query) and the POST parameters."""

from urllib.parse import urlencode

import pytest
from django.test import RequestFactory

from inbox.providers.base import SignatureInvalid
from inbox.providers.twilio import TwilioProvider

# Twilio's documented example (https://www.twilio.com/docs/usage/security).
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def _request(path: str, params: dict, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}
    return RequestFactory().post(
        path, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers
    )


@pytest.fixture
def documented_account(settings):
    settings.TWILIO_AUTH_TOKEN = "12345"
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    return settings


def test_it_accepts_twilios_documented_example(documented_account):
    TwilioProvider().verify(_request("/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE))


def test_it_signs_the_public_url_not_the_host_the_proxy_forwarded(documented_account):
    request = _request("/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE)
    request.META["HTTP_HOST"] = "10.0.0.7:8000"
    TwilioProvider().verify(request)


def test_it_accepts_the_url_with_the_default_port_spelled_out(documented_account):
    documented_account.PUBLIC_BASE_URL = "https://mycompany.com:443"
    TwilioProvider().verify(_request("/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE))


@pytest.mark.parametrize(
    "path, params",
    [
        ("/myapp.php?foo=1&bar=3", DOC_PARAMS),  # the query string is signed
        ("/myapp.php", DOC_PARAMS),
        ("/myapp.php?foo=1&bar=2", {**DOC_PARAMS, "Digits": "1235"}),  # so is every parameter
        ("/myapp.php?foo=1&bar=2", {**DOC_PARAMS, "Extra": "x"}),
    ],
)
def test_it_refuses_anything_that_changed_after_signing(documented_account, path, params):
    with pytest.raises(SignatureInvalid):
        TwilioProvider().verify(_request(path, params, DOC_SIGNATURE))


def test_it_refuses_another_accounts_token(documented_account):
    documented_account.TWILIO_AUTH_TOKEN = "54321"
    with pytest.raises(SignatureInvalid):
        TwilioProvider().verify(_request("/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE))


def test_it_refuses_a_request_without_a_signature(documented_account):
    with pytest.raises(SignatureInvalid):
        TwilioProvider().verify(_request("/myapp.php?foo=1&bar=2", DOC_PARAMS, None))


def test_it_refuses_everything_while_twilio_is_not_configured(documented_account):
    documented_account.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(SignatureInvalid):
        TwilioProvider().verify(_request("/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE))
