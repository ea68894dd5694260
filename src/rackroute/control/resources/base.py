"""The shape every resource shares: ``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``.

Two strictness levels, deliberately:

- ``StrictModel`` (Calico, MetalLB and rackroute's own kinds): an unknown field is an error naming
  the fields that exist, and a field of the project's schema that rackroute does not implement is
  declared (so the error says "not supported", not "unknown": see ``values.refused``/``one_of``).
- ``KubernetesModel`` (v1 Node, Service, Pod, EndpointSlice, Lease): the fields networking needs are
  typed and validated; every other field of Kubernetes' schema (a Pod's containers, a Node's
  capacity) is kept as written and passed through, so a copy of a real object applies unchanged.

Field names are the projects' own (``asNumber``, ``peerIP``): Python attributes are snake_case and
the alias is the JSON name; documents are read and written by alias only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ..store import Document
from .values import Str

_NAME = re.compile(r"[a-z0-9A-Z]([-a-zA-Z0-9._]*[a-zA-Z0-9])?")


def check_name(value: str) -> str:
    if len(value) > 253 or not _NAME.fullmatch(value):
        raise PydanticCustomError(
            "name",
            "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit, "
            "at most 253 characters (got {got})",
            {"got": f'"{value}"'},
        )
    return value


ResourceName = Annotated[str, AfterValidator(check_name)]


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_by_alias=True,
        frozen=True,
        defer_build=True,  # schemas are built when a kind is first validated: `rackroute get` starts faster
    )


class KubernetesModel(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        defer_build=True,
    )


class ObjectMeta(KubernetesModel):
    """Kubernetes' ObjectMeta; fields the store fills (uid, resourceVersion, generation,
    creationTimestamp) are read back, and other ObjectMeta fields (ownerReferences...) are kept."""

    name: ResourceName
    namespace: ResourceName | None = None
    labels: dict[str, Str] = Field(default_factory=dict)
    annotations: dict[str, Str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None


class Resource(BaseModel):
    """A resource document as a model. Subclasses set ``api_version``/``kind`` Literals and spec."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta

    # The apiVersions this model reads (the first is the one it writes).
    API_VERSIONS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_document(cls, document: Document) -> Self:
        """Validates a document (a stored one or a loaded one); raises pydantic's ValidationError."""
        return cls.model_validate(document, by_alias=True)

    def to_document(self) -> Document:
        """The JSON document: the fields as given (defaults are not written out), by their JSON names."""
        document = self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        document["apiVersion"] = self.api_version
        document["kind"] = self.kind
        return document

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
