"""What Open311 answers: the GeoReport v2 resources, in the standard's field order.

Field names, types and nesting follow http://wiki.open311.org/GeoReport_v2 (and for
updates, mySociety's servicerequestupdates extension as FixMyStreet reads it). The same
models render as JSON and as XML (see `render`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ("text/xml", "application/json")
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Fields left out (rather than shown empty) when they have no value.
    omit_if_none: ClassVar[frozenset[str]] = frozenset()


class Endpoint(_Out):
    specification: str = SPECIFICATION
    url: str
    changeset: str
    type: Literal["production", "test"] = "production"
    formats: list[str] = list(FORMATS)


class Discovery(_Out):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(_Out):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str
    group: str


class AttributeValue(_Out):
    key: str
    name: str


class Attribute(_Out):
    variable: bool
    code: str
    datatype: Datatype
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue] | None = None  # only for the two list datatypes

    omit_if_none: ClassVar[frozenset[str]] = frozenset({"values"})


class ServiceDefinition(_Out):
    service_code: str
    attributes: list[Attribute]


class Note(_Out):
    """One step of the public timeline (the `extensions=true` update history)."""

    datetime: str
    description: str
    type: str


class ServiceRequest(_Out):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None = None
    lat: float | None
    long: float | None
    media_url: str | None = None
    # Extensions (only with extensions=true).
    extended_attributes: dict[str, Any] | None = None
    notes: list[Note] | None = None

    omit_if_none: ClassVar[frozenset[str]] = frozenset({"extended_attributes", "notes"})


class Created(_Out):
    """The answer to POST requests: intake is synchronous, so never a token."""

    service_request_id: str
    service_notice: str


class TokenAnswer(_Out):
    service_request_id: str
    token: str


class RequestUpdate(_Out):
    update_id: str
    service_request_id: str
    status: Literal["open", "closed"]
    updated_datetime: str
    description: str
    media_url: str = ""


class ErrorItem(_Out):
    code: int
    description: str
