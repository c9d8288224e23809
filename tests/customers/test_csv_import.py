"""CSV import: all rows or none, with every bad row named; the page is for staff only."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from customers.csv_import import ImportFailed, csv_import
from customers.models import ConsentEvent, Customer, Order, OrderItem
from customers.selectors import consent_state

pytestmark = pytest.mark.django_db

CUSTOMERS_OK = (
    "name,email,phone,timezone,labels,notes,email_marketing,sms_marketing\n"
    "Jane Doe,jane@example.com,(541) 555-0142,America/Los_Angeles,vip;linen,Prefers email,yes,no\n"
    "Omar Haddad,omar@example.com,,Europe/Paris,,,,\n"
)
ORDERS_OK = (
    "order_number,placed_at,email,phone,name,currency,total,financial_status,fulfillment_status,"
    "tracking_number,tracking_url,cancelled_at,item_title,item_sku,item_quantity,item_price\n"
    "#2001,2025-02-01,jane@example.com,,Jane Doe,EUR,57.00,paid,fulfilled,JJD0001,https://track.example/JJD0001,,"
    "Linen Shirt,SHIRT-1,1,32.00\n"
    "2001,,,,,,,,,,,,Canvas Tote,TOTE-1,1,25.00\n"
    "2002,2025-02-03T09:30:00+01:00,omar@example.com,,Omar Haddad,EUR,10.00,paid,,,,,Socks,SOCK-1,2,5.00\n"
)


def test_it_imports_customers_with_identities_labels_and_consent():
    result = csv_import(stream=CUSTOMERS_OK.encode())

    assert result.as_dict()["customers"] == 2
    jane = Customer.objects.get(email="jane@example.com")
    assert jane.phone == "+15415550142"
    assert jane.timezone == "America/Los_Angeles"
    assert set(jane.labels.values_list("name", flat=True)) == {"vip", "linen"}
    assert consent_state(customer=jane, channel="email", purpose="marketing") is True
    assert consent_state(customer=jane, channel="sms", purpose="marketing") is False


def test_it_imports_orders_grouping_item_rows_by_number_and_again_without_duplicates():
    csv_import(stream=ORDERS_OK.encode())
    again = csv_import(stream=ORDERS_OK.encode())

    assert again.orders_created == 0 and again.orders_updated == 2
    order = Order.objects.get(source="csv", number="2001")
    assert order.total == Decimal("57.00") and order.currency == "EUR"
    assert sorted(order.items.values_list("title", flat=True)) == ["Canvas Tote", "Linen Shirt"]
    assert order.customer.email == "jane@example.com"
    assert order.tracking_number == "JJD0001"
    assert Order.objects.count() == 2 and Customer.objects.count() == 2


def test_a_file_with_bad_rows_imports_nothing_and_lists_every_bad_row():
    bad = (
        "name,email,phone,timezone,labels,notes,email_marketing,sms_marketing\n"
        "Jane Doe,jane@example.com,,Europe/Paris,,,,\n"
        "Broken Mail,not-an-email,,,,,,\n"
        "No Contact,,,,,,,\n"
        "Wrong Zone,zone@example.com,,Mars/Olympus,,,maybe,\n"
    )

    with pytest.raises(ImportFailed) as failed:
        csv_import(stream=bad.encode())

    assert [(e["row"], e["column"]) for e in failed.value.errors] == [
        (3, "email"),
        (4, None),
        (5, "timezone"),
        (5, "email_marketing"),
    ]
    assert not Customer.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_an_orders_file_with_one_bad_row_imports_no_order():
    bad = ORDERS_OK + "2003,yesterday,x@example.com,,X,EUR,abc,paid,,,,,Hat,HAT-1,1,9.00\n"

    with pytest.raises(ImportFailed) as failed:
        csv_import(stream=bad.encode())

    assert {(e["row"], e["column"]) for e in failed.value.errors} == {(5, "placed_at"), (5, "total")}
    assert not Order.objects.exists() and not OrderItem.objects.exists() and not Customer.objects.exists()


def test_the_command_imports_a_file_and_refuses_a_bad_one(tmp_path):
    good = tmp_path / "customers.csv"
    good.write_text(CUSTOMERS_OK)
    out = io.StringIO()
    call_command("import_csv", str(good), stdout=out)
    assert "2 customers" in out.getvalue()

    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnope\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_csv", str(bad), stderr=err)
    assert "row 2 [email]" in err.getvalue()
    assert Customer.objects.count() == 2


def test_the_upload_page_is_for_managers_and_admins_only(bob, alice):
    client = Client()
    client.force_login(bob)
    assert client.get("/customers/import/").status_code == 403

    client.force_login(alice)
    page = client.get("/customers/import/")
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content
    assert b"<progress" in page.content


def test_the_upload_page_refuses_a_post_without_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/customers/import/", {"file": SimpleUploadedFile("c.csv", CUSTOMERS_OK.encode())})

    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_the_upload_page_imports_and_shows_row_errors(alice):
    client = Client()
    client.force_login(alice)

    ok = client.post("/customers/import/", {"file": SimpleUploadedFile("c.csv", CUSTOMERS_OK.encode())},
                     HTTP_ACCEPT="application/json")
    assert ok.status_code == 200 and ok.json()["customers"] == 2

    bad = client.post("/customers/import/", {"file": SimpleUploadedFile("b.csv", b"email\nnope\n")})
    assert bad.status_code == 400
    assert b"Nothing was imported" in bad.content and b"not an email address" in bad.content
    assert Customer.objects.count() == 2
