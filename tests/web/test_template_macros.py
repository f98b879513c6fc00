"""The shared template macros in app/templates/_macros/ render what the pages relied on."""

from __future__ import annotations

import re

import pytest
from flask import render_template_string
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

PAGE = "{% from '_macros/page.html' import page_header, status_badge %}"
TABLES = "{% from '_macros/tables.html' import data_table %}"
FORMS = "{% from '_macros/forms.html' import field_form, filter_select, post_button %}"


@pytest.fixture
def render(app):
    def render(source: str, **context) -> str:
        with app.test_request_context("/"):
            return render_template_string(source, **context)

    return render


def test_page_header_links_the_trail_and_skips_falsy_steps(render):
    trail = "[('Plan & co', '/plan'), false, ('P', '/p')]"
    html = render(PAGE + "{{ page_header('Wave <2>', " + trail + ") }}")
    items = re.findall(r'<li class="breadcrumb-item[^"]*"[^>]*>(.*?)</li>', html)
    assert items == ['<a href="/plan">Plan &amp; co</a>', '<a href="/p">P</a>', "Wave &lt;2&gt;"]
    assert 'aria-current="page">Wave &lt;2&gt;</li>' in html
    assert '<h1 class="h3">Wave &lt;2&gt;</h1>' in html


def test_page_header_puts_the_status_and_the_buttons_beside_the_heading(render):
    html = render(
        PAGE + "{% call page_header('Pilots', status=status_badge('Run', 'success', 'st', 'x'),"
        " testid='title') %}<a href='/new'>New</a>{% endcall %}"
    )
    assert "breadcrumb" not in html
    heading = re.search(r'<h1 class="h3 mb-0 me-auto" data-testid="title">(.*?)</h1>', html, re.S)
    badge = '<span class="badge text-bg-success x" data-testid="st">Run</span>'
    assert heading and "Pilots" in heading.group(1) and badge in heading.group(1)
    assert html.index("</h1>") < html.index("href='/new'") < html.index("</div>")


def test_data_table_renders_a_row_per_item_or_the_empty_line(render):
    source = TABLES + (
        "{% call(x) data_table(rows, ['Name', ('Count', 'text-end')], testid='t', empty='None.') %}"
        "<tr><td>{{ x }}</td></tr>{% endcall %}"
    )
    html = render(source, rows=["a", "b"])
    assert 'data-testid="t"' in html and '<th scope="col">Name</th>' in html
    assert '<th scope="col" class="text-end">Count</th>' in html
    assert re.findall(r"<td>(\w)</td>", html) == ["a", "b"]
    assert "None." not in html
    empty = render(source, rows=[])
    assert "<table" not in empty and '<p class="text-muted">None.</p>' in empty


def test_post_button_carries_the_csrf_token_hidden_values_and_a_safe_confirmation(render):
    html = render(
        FORMS + "{{ post_button('/revoke', 'Revoke', {'tag': 'a\"b', 'next': '/x'},"
        " confirm=\"Stop? It's final.\", testid='revoke', title='Remove') }}"
    )
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]+">', html)
    assert '<input type="hidden" name="tag" value="a&#34;b">' in html
    assert '<input type="hidden" name="next" value="/x">' in html
    assert 'data-confirm="Stop? It&#39;s final."' in html  # asked by static/js/rollwise.js
    assert "onsubmit" not in html
    assert 'data-testid="revoke"' in html and 'title="Remove"' in html
    assert ">Revoke</button>" in html


class _Form(FlaskForm):
    class Meta:
        csrf = False

    title = StringField("Title", validators=[DataRequired()])
    owner = StringField("Owner")


def test_field_form_lays_fields_in_columns_and_shows_their_errors(app):
    with app.test_request_context("/", method="POST", data={"title": ""}):
        form = _Form()
        form.validate()
        html = render_template_string(
            FORMS + "{{ field_form('/act', form, [form.title, form.owner], 'Add', testid='f',"
            " class='no-print', cols=['col-md-5', 'col-md-3'], button_col='col-md-2') }}",
            form=form,
        )
    opening = re.search(r"<form [^>]*>", html).group(0)
    assert opening == (
        '<form method="post" action="/act" novalidate'
        ' class="row g-2 align-items-end no-print" data-testid="f">'
    )
    assert '<div class="col-md-5">' in html and '<div class="col-md-3">' in html
    assert 'name="title"' in html and 'name="owner"' in html
    assert "is-invalid" in html and "This field is required." in html
    button = '<button type="submit" class="btn btn-outline-primary">Add</button>'
    assert f'<div class="col-md-2 mb-3">{button}</div>' in html


def test_filter_select_takes_a_mapping_with_enum_keys_or_a_plain_list(render):
    from app.models import SizeTier

    html = render(
        FORMS + "{{ filter_select('size_tier', 'Size', labels, 'large', 'All') }}"
        "{{ filter_select('region', 'Region', ['East', 'West'], 'West', 'All') }}",
        labels={SizeTier.SMALL: "Small", SizeTier.LARGE: "Large"},
    )
    assert '<label class="form-label small" for="size_tier">Size</label>' in html
    assert '<option value="small" >Small</option>' in html
    assert '<option value="large" selected>Large</option>' in html
    assert '<option value="East" >East</option>' in html
    assert '<option value="West" selected>West</option>' in html
    assert html.count('<option value="">All</option>') == 2
