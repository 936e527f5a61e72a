from voxline.core.reachability import carrier_cannot_reach, is_private_url


def test_private_urls() -> None:
    for url in (
        "http://127.0.0.1:8000",
        "http://localhost:9000",
        "http://10.1.2.3",
        "http://192.168.1.5:80",
        "http://[::1]:8000",
        "http://0.0.0.0:8000",
        "http://box.local",
        "http://[::ffff:10.0.0.1]",
        "http://",
    ):
        assert is_private_url(url), url
    for url in ("https://voxline.example.com", "https://8.8.8.8", "https://abc.ngrok.app"):
        assert not is_private_url(url), url


def test_a_carrier_on_the_internet_cannot_reach_a_private_url() -> None:
    assert carrier_cannot_reach("http://127.0.0.1:8000", None)
    assert carrier_cannot_reach("http://127.0.0.1:8000", "https://api.twilio.com")
    assert not carrier_cannot_reach("http://127.0.0.1:8000", "http://127.0.0.1:8000/sandbox/twilio")
    assert not carrier_cannot_reach("https://calls.example.com", "https://api.twilio.com")
