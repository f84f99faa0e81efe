"""XMP packets: parse, read face regions and people keywords, merge facerec's regions in, serialise.

Pure functions on bytes and dataclasses (no files, no store). Schemas handled:

- MWG regions (``mwg-rs:Regions``): ``AppliedToDimensions`` and a ``RegionList`` of ``Area`` structs
  (normalised, centre-based ``x, y, w, h``), ``Name``, ``Type``;
- Microsoft Photo regions (``MP:RegionInfo`` / ``MPRI:Regions``): ``MPReg:Rectangle`` ("x, y, w, h",
  normalised, top-left based), ``MPReg:PersonDisplayName``;
- people as keywords: ``Iptc4xmpExt:PersonInImage``, ``dc:subject``, digiKam's ``digiKam:TagsList``
  (``People/<name>``) and Lightroom's ``lr:hierarchicalSubject`` (``People|<name>``).

Regions here are always ``Region.box = (x, y, w, h)``: normalised to the upright image (EXIF orientation
applied, as facerec stores its boxes; digiKam and the MWG guidelines use the same frame), top-left based.

The standard library's ``xml.etree`` parses (any RDF form: property elements, attribute shorthand,
``rdf:parseType="Resource"``, nested ``rdf:Description``); a document type declaration is refused (XMP has
none, and entities are how XML bombs work). A small serialiser of our own keeps the file's namespace
prefixes, so a merged file differs from the original only where facerec changed it.
"""

from __future__ import annotations

import io
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import FacerecError
from ..geometry import box_iou

log = logging.getLogger(__name__)

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "MP": "http://ns.microsoft.com/photo/1.2/",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
}
MAX_PACKET_BYTES = 32 * 1024 * 1024
PICASA_UNNAMED = "ffffffffffffffff"
"""Picasa's name for a face region with no contact: treated as unnamed."""
WHOLE_IMAGE = 0.95
"""A region covering at least this fraction of the image's width and height is not a face (skipped)."""
SAME_FACE_IOU = 0.5
"""Two regions with at least this overlap (intersection over union) mark the same face."""

_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"


def q(prefix: str, local: str) -> str:
    """``{namespace-uri}local`` (ElementTree's qualified name) for a known prefix."""
    return f"{{{NS[prefix]}}}{local}"


RDF_DESCRIPTION, RDF_LI, RDF_RDF = q("rdf", "Description"), q("rdf", "li"), q("rdf", "RDF")
RDF_PARSETYPE, RDF_ABOUT, RDF_VALUE = q("rdf", "parseType"), q("rdf", "about"), q("rdf", "value")
RDF_CONTAINERS = (q("rdf", "Bag"), q("rdf", "Seq"), q("rdf", "Alt"))


class XmpError(FacerecError):
    """An XMP packet that cannot be read; names the file and the reason."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class Region:
    """One face region: ``box`` = (x, y, w, h), normalised to the upright image, top-left based."""

    name: str | None
    box: tuple[float, float, float, float]
    source: str = "mwg"
    """``mwg`` or ``mp``: the schema it was read from."""

    def pixels(self, width: int, height: int) -> list[float]:
        """The box as [x1, y1, x2, y2] pixels of an upright image of this size."""
        x, y, w, h = self.box
        return [x * width, y * height, (x + w) * width, (y + h) * height]

    @classmethod
    def from_pixels(cls, name: str | None, box: Sequence[float], width: int, height: int) -> Region:
        """A region from an [x1, y1, x2, y2] pixel box (clipped to the image)."""
        x1, y1, x2, y2 = (float(v) for v in box)
        x1, x2 = (min(max(v / width, 0.0), 1.0) for v in (x1, x2))
        y1, y2 = (min(max(v / height, 0.0), 1.0) for v in (y1, y2))
        return cls(name, (x1, y1, max(0.0, x2 - x1), max(0.0, y2 - y1)))

    def key(self) -> list:
        """A JSON-able, rounded form (for records and comparisons): [name, x, y, w, h, source]."""
        return [self.name, *(round(v, 5) for v in self.box), self.source]

    @classmethod
    def from_key(cls, key: Sequence) -> Region:
        return cls(key[0], tuple(float(v) for v in key[1:5]), str(key[5]) if len(key) > 5 else "mwg")  # type: ignore[arg-type]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes (``facerec.geometry.box_iou`` of their corners)."""
    return box_iou((a[0], a[1], a[0] + a[2], a[1] + a[3]), (b[0], b[1], b[0] + b[2], b[1] + b[3]))


def same_name(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


# -- keywords ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeywordList:
    """An array property holding people's names, each written as ``fmt.format(name)``."""

    key: str
    prop: str
    container: str
    fmt: str

    def value(self, name: str) -> str:
        return self.fmt.format(name)

    def name_of(self, value: str) -> str | None:
        """The person's name in one of this list's values, or None when the value is not a person."""
        head, _, tail = self.fmt.partition("{}")
        if value.startswith(head) and value.endswith(tail) and len(value) > len(head) + len(tail):
            return value[len(head) : len(value) - len(tail)] if tail else value[len(head) :]
        return None


KEYWORD_LISTS = (
    KeywordList("person", q("Iptc4xmpExt", "PersonInImage"), q("rdf", "Bag"), "{}"),
    KeywordList("subject", q("dc", "subject"), q("rdf", "Bag"), "{}"),
    KeywordList("digikam", q("digiKam", "TagsList"), q("rdf", "Seq"), "People/{}"),
    KeywordList("lightroom", q("lr", "hierarchicalSubject"), q("rdf", "Bag"), "People|{}"),
)


@dataclass
class MergeResult:
    """What ``XmpPacket.merge_faces`` changed: the regions and keyword values facerec now owns in the packet."""

    written: list[Region] = field(default_factory=list)
    """Regions facerec wrote, ``source`` = the schema (a region another app had already written for the
    same face and name is left as it was and not listed)."""
    added: list[list[str]] = field(default_factory=list)
    """[keyword list key, value] pairs facerec added (values that were there before are not listed)."""
    replaced: int = 0
    """Regions of other apps replaced because facerec names that face differently (or names an unnamed one)."""


# -- the packet -------------------------------------------------------------------------------------
class XmpPacket:
    """One XMP packet (a sidecar file or the XMP block of an image) as an element tree."""

    def __init__(self, root: ET.Element, prefixes: dict[str, str] | None = None):
        self.root = root
        self.prefixes = dict(prefixes or {})
        """namespace URI -> prefix, as the file declared them (kept when writing)."""

    # -- reading ------------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> XmpPacket:
        root = ET.Element(q("x", "xmpmeta"))
        rdf = ET.SubElement(root, RDF_RDF)
        ET.SubElement(rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})
        return cls(root)

    @classmethod
    def parse(cls, data: bytes, source: str = "XMP packet") -> XmpPacket:
        """Parse a packet; raises ``XmpError(source, reason)`` for anything that is not readable XMP."""
        if len(data) > MAX_PACKET_BYTES:
            raise XmpError(source, f"XMP packet is {len(data) / 1e6:.0f} MB, over the {MAX_PACKET_BYTES // 2**20} MB limit")
        data = data.rstrip(b"\x00 \t\r\n")
        if not data.strip():
            return cls.empty()
        head = data[:4096].upper()
        if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
            raise XmpError(source, "XMP with a document type declaration or entities is refused (not valid XMP)")
        parser: Any = ET.XMLPullParser(events=("start-ns", "start"))  # its events are (str, item) pairs
        prefixes: dict[str, str] = {}
        root = None
        try:
            parser.feed(data)
            parser.close()
            for event, item in parser.read_events():
                if event == "start-ns":
                    prefix, uri = item
                    if prefix and uri not in prefixes:
                        prefixes[uri] = prefix
                elif root is None:
                    root = item
        except ET.ParseError as exc:
            raise XmpError(source, f"not well-formed XML ({exc})") from None
        if root is None:
            raise XmpError(source, "no XML element in the XMP packet")
        if root.tag == RDF_RDF:  # some writers leave out the x:xmpmeta wrapper
            wrapper = ET.Element(q("x", "xmpmeta"))
            wrapper.append(root)
            root = wrapper
        elif root.find(f".//{RDF_RDF}") is None:
            raise XmpError(source, f"no rdf:RDF element (root element is {_local(root.tag)})")
        return cls(root, prefixes)

    @property
    def rdf(self) -> ET.Element:
        found = self.root.find(RDF_RDF)
        if found is None:
            found = self.root.find(f".//{RDF_RDF}")
        assert found is not None
        return found

    def is_empty(self) -> bool:
        """No properties at all (every rdf:Description is empty)."""
        return not any(
            len(d) or any(not k.startswith(f"{{{NS['rdf']}}}") for k in d.attrib) for d in self._descriptions()
        )

    def _descriptions(self) -> list[ET.Element]:
        return [d for d in self.rdf if d.tag == RDF_DESCRIPTION]

    def _properties(self, tag: str) -> list[tuple[ET.Element, ET.Element]]:
        """(rdf:Description, property element) for each top-level property named ``tag``."""
        return [(d, p) for d in self._descriptions() for p in d if p.tag == tag]

    def regions(self) -> list[Region]:
        """Face regions: MWG first; a Microsoft region is added only where no MWG region covers that face.
        Unnamed Picasa regions become unnamed; whole-image regions and non-face MWG types are skipped."""
        mwg = [r for r in self.mwg_regions() if not _whole_image(r)]
        mp = [r for r in self.mp_regions() if not _whole_image(r)]
        return mwg + [r for r in mp if not any(iou(r.box, m.box) >= SAME_FACE_IOU for m in mwg)]

    def mwg_regions(self) -> list[Region]:
        out = []
        for item in self._mwg_items():
            region = _mwg_region(item, self._mwg_dimensions())
            if region is not None:
                out.append(region)
        return out

    def mp_regions(self) -> list[Region]:
        out = []
        for item in self._mp_items():
            region = _mp_region(item)
            if region is not None:
                out.append(region)
        return out

    def keywords(self, key: str) -> list[str]:
        """The values of one keyword list (``person``, ``subject``, ``digikam``, ``lightroom``)."""
        kl = next(k for k in KEYWORD_LISTS if k.key == key)
        return [v for _, p in self._properties(kl.prop) for v in _array_values(p)]

    def people(self) -> list[str]:
        """Names of people the packet mentions: region names, PersonInImage, digiKam ``People/`` tags and
        Lightroom ``People|`` keywords (dc:subject alone is not a person: it holds any keyword)."""
        names: list[str] = []
        for region in self.regions():
            if region.name:
                names.append(region.name)
        for kl in KEYWORD_LISTS:
            if kl.key == "subject":
                continue
            for value in self.keywords(kl.key):
                name = kl.name_of(value)
                if name and name.rsplit("/", 1)[-1].rsplit("|", 1)[-1] == name:  # People/Family/Ann is a tag tree, take the leaf
                    names.append(name)
                elif name:
                    names.append(name.replace("|", "/").rsplit("/", 1)[-1])
        seen: set[str] = set()
        unique = []
        for n in names:
            if n.casefold() not in seen:
                seen.add(n.casefold())
                unique.append(n)
        return unique

    def _mwg_regions_element(self) -> ET.Element | None:
        props = self._properties(q("mwg-rs", "Regions"))
        return props[0][1] if props else None

    def _mwg_dimensions(self) -> tuple[float, float] | None:
        regions = self._mwg_regions_element()
        if regions is None:
            return None
        dims = _struct(regions).get(q("mwg-rs", "AppliedToDimensions"))
        if dims is None:
            return None
        f = _struct(dims) if isinstance(dims, ET.Element) else {}
        w, h = _number(f.get(q("stDim", "w"))), _number(f.get(q("stDim", "h")))
        return (w, h) if w and h else None

    def _mwg_items(self) -> list[ET.Element]:
        regions = self._mwg_regions_element()
        if regions is None:
            return []
        lst = _struct(regions).get(q("mwg-rs", "RegionList"))
        return _array_items(lst) if isinstance(lst, ET.Element) else []

    def _mp_items(self) -> list[ET.Element]:
        props = self._properties(q("MP", "RegionInfo"))
        if not props:
            return []
        lst = _struct(props[0][1]).get(q("MPRI", "Regions"))
        return _array_items(lst) if isinstance(lst, ET.Element) else []

    # -- writing ------------------------------------------------------------------------------------
    def merge_faces(
        self,
        faces: Sequence[Region],
        size: tuple[int, int],
        previous: Sequence[Region] = (),
        previous_added: Sequence[Sequence[str]] = (),
    ) -> MergeResult:
        """Make the packet name ``faces`` (named regions of an upright image of ``size`` = (w, h) pixels),
        in both region schemas and the keyword lists, keeping everything else.

        ``previous`` / ``previous_added`` are what facerec wrote into this packet last time (the
        ``MergeResult`` of then): those regions and keyword values are taken out first, so a face no longer
        named (rejected, person removed) disappears and a renamed one changes. Another app's region of the
        same face is kept when it carries the same name, and replaced when facerec names it otherwise.
        """
        faces = [f for f in faces if f.name]
        result = MergeResult()
        dims = self._mwg_dimensions()
        for schema in ("mwg", "mp"):
            items = self._mwg_items() if schema == "mwg" else self._mp_items()
            mine = [p for p in previous if p.source == schema]
            present: set[int] = set()  # faces another app already names the same way in this schema
            kept: list[ET.Element] = []
            for item in items:
                region = _mwg_region(item, dims, any_type=True) if schema == "mwg" else _mp_region(item)
                if region is None:
                    kept.append(item)
                    continue
                if any(same_name(region.name, p.name) and iou(region.box, p.box) >= SAME_FACE_IOU for p in mine):
                    continue  # ours from last time: rewritten below if still wanted
                clash = [i for i, f in enumerate(faces) if iou(region.box, f.box) >= SAME_FACE_IOU]
                same = [i for i in clash if same_name(region.name, faces[i].name)]
                if not clash or same:
                    present.update(same)
                    kept.append(item)
                    continue
                log.info("replacing a %s region (%s) with facerec's %s", schema, region.name or "unnamed", faces[clash[0]].name)
                result.replaced += 1
            ours = [Region(f.name, f.box, schema) for i, f in enumerate(faces) if i not in present]
            result.written.extend(ours)
            if schema == "mwg":
                self._set_mwg(kept + [_mwg_item(f) for f in ours], size)
            else:
                self._set_mp(kept + [_mp_item(f) for f in ours])
        result.added = self._merge_keywords([f.name for f in faces if f.name], previous_added)
        return result

    def _merge_keywords(self, names: Sequence[str], previous_added: Sequence[Sequence[str]]) -> list[list[str]]:
        added: list[list[str]] = []
        wanted = list(dict.fromkeys(names))
        for kl in KEYWORD_LISTS:
            values = [kl.value(n) for n in wanted]
            ours_before = {v for k, v in previous_added if k == kl.key}
            props = self._properties(kl.prop)
            current = [v for _, p in props for v in _array_values(p)]
            drop = {v for v in ours_before if v not in values}
            present = [v for v in current if v not in drop]
            for v in values:
                if v in ours_before or v not in present:
                    added.append([kl.key, v])
            final = present + [v for v in values if v not in present]
            if final == current:
                continue
            self._replace(props, _array(kl.prop, kl.container, final) if final else None)
        return added

    def _set_mwg(self, items: list[ET.Element], size: tuple[int, int]) -> None:
        old = self._properties(q("mwg-rs", "Regions"))
        extra: list[ET.Element] = []
        if old:
            fields = _struct(old[0][1])
            extra = [
                v for k, v in fields.items()
                if isinstance(v, ET.Element) and k not in (q("mwg-rs", "AppliedToDimensions"), q("mwg-rs", "RegionList"))
            ]
        if not items:
            self._replace(old, None)
            return
        regions = _resource(q("mwg-rs", "Regions"))
        dims = _resource(q("mwg-rs", "AppliedToDimensions"))
        _leaf(dims, q("stDim", "w"), str(int(size[0])))
        _leaf(dims, q("stDim", "h"), str(int(size[1])))
        _leaf(dims, q("stDim", "unit"), "pixel")
        regions.append(dims)
        lst = ET.SubElement(regions, q("mwg-rs", "RegionList"))
        bag = ET.SubElement(lst, q("rdf", "Bag"))
        bag.extend(items)
        regions.extend(extra)
        self._replace(old, regions)

    def _set_mp(self, items: list[ET.Element]) -> None:
        old = self._properties(q("MP", "RegionInfo"))
        extra: list[ET.Element] = []
        if old:
            extra = [v for k, v in _struct(old[0][1]).items() if isinstance(v, ET.Element) and k != q("MPRI", "Regions")]
        if not items:
            self._replace(old, None)
            return
        info = _resource(q("MP", "RegionInfo"))
        lst = ET.SubElement(info, q("MPRI", "Regions"))
        bag = ET.SubElement(lst, q("rdf", "Bag"))
        bag.extend(items)
        info.extend(extra)
        self._replace(old, info)

    def _replace(self, old: list[tuple[ET.Element, ET.Element]], new: ET.Element | None) -> None:
        """Put ``new`` where the first of the ``old`` properties was (else in the first rdf:Description)
        and remove the old ones."""
        if old:
            desc, first = old[0]
            if new is not None:
                new.tail = first.tail
                desc.insert(list(desc).index(first), new)
            for d, prop in old:
                d.remove(prop)
        elif new is not None:
            self._target_description().append(new)

    def _target_description(self) -> ET.Element:
        descs = self._descriptions()
        if descs:
            return descs[0]
        return ET.SubElement(self.rdf, RDF_DESCRIPTION, {RDF_ABOUT: ""})

    # -- serialising --------------------------------------------------------------------------------
    def serialize(self, padding: int = 0) -> bytes:
        """The packet as UTF-8 bytes with the ``<?xpacket?>`` wrapper (``padding`` spaces before the end
        marker leave room for in-place edits by other tools)."""
        prefixes = self._prefix_map()
        out = io.StringIO()
        out.write(f'<?xpacket begin="\ufeff" id="{_PACKET_ID}"?>\n')
        _write_element(out, self.root, prefixes, declare=True)
        out.write("\n")
        if padding:
            out.write((" " * 99 + "\n") * max(1, padding // 100))
        out.write('<?xpacket end="w"?>')
        return out.getvalue().encode("utf-8")

    def _prefix_map(self) -> dict[str, str]:
        used: set[str] = set()
        for el in self.root.iter():
            if isinstance(el.tag, str) and el.tag.startswith("{"):
                used.add(el.tag[1:].split("}", 1)[0])
            for name in el.attrib:
                if name.startswith("{"):
                    used.add(name[1:].split("}", 1)[0])
        known = {uri: prefix for prefix, uri in NS.items()}
        out: dict[str, str] = {NS["xml"]: "xml"}
        taken = {"xml"}
        for uri in sorted(used - {NS["xml"]}, key=lambda u: (u not in self.prefixes and u not in known, u)):
            prefix = self.prefixes.get(uri) or known.get(uri) or "ns"
            base, n = prefix, 1
            while prefix in taken:
                prefix, n = f"{base}{n}", n + 1
            out[uri] = prefix
            taken.add(prefix)
        return out


# -- region structs ---------------------------------------------------------------------------------
def _mwg_region(item: ET.Element, dims: tuple[float, float] | None, any_type: bool = False) -> Region | None:
    f = _struct(item)
    kind = _text(f.get(q("mwg-rs", "Type")))
    if not any_type and kind and kind.strip().lower() != "face":
        return None
    area = f.get(q("mwg-rs", "Area"))
    if not isinstance(area, ET.Element):
        return None
    a = _struct(area)
    x, y, w, h = (_number(a.get(q("stArea", k))) for k in ("x", "y", "w", "h"))
    if None in (x, y, w, h):
        return None
    unit = (_text(a.get(q("stArea", "unit"))) or "normalized").strip().lower()
    if unit == "pixel":
        if not dims:
            return None
        x, w = x / dims[0], w / dims[0]  # type: ignore[operator]
        y, h = y / dims[1], h / dims[1]  # type: ignore[operator]
    box = _clip((x - w / 2, y - h / 2, w, h))  # type: ignore[operator]
    if box is None:
        return None
    return Region(_clean_name(_text(f.get(q("mwg-rs", "Name")))), box, "mwg")


def _mp_region(item: ET.Element) -> Region | None:
    f = _struct(item)
    rect = _text(f.get(q("MPReg", "Rectangle")))
    if not rect:
        return None
    try:
        x, y, w, h = (float(v) for v in rect.replace(";", ",").split(","))
    except ValueError:
        return None
    box = _clip((x, y, w, h))
    if box is None:
        return None
    return Region(_clean_name(_text(f.get(q("MPReg", "PersonDisplayName")))), box, "mp")


def _mwg_item(r: Region) -> ET.Element:
    x, y, w, h = r.box
    li = _resource(RDF_LI)
    area = _resource(q("mwg-rs", "Area"))
    for k, v in (("x", x + w / 2), ("y", y + h / 2), ("w", w), ("h", h)):
        _leaf(area, q("stArea", k), _num(v))
    _leaf(area, q("stArea", "unit"), "normalized")
    li.append(area)
    _leaf(li, q("mwg-rs", "Name"), r.name or "")
    _leaf(li, q("mwg-rs", "Type"), "Face")
    return li


def _mp_item(r: Region) -> ET.Element:
    li = _resource(RDF_LI)
    _leaf(li, q("MPReg", "PersonDisplayName"), r.name or "")
    _leaf(li, q("MPReg", "Rectangle"), ", ".join(_num(v) for v in r.box))
    return li


def _whole_image(r: Region) -> bool:
    return r.box[2] >= WHOLE_IMAGE and r.box[3] >= WHOLE_IMAGE


def _clip(box: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    if not all(math.isfinite(v) for v in box):
        return None
    x, y, w, h = box
    x1, y1 = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    x2, y2 = min(max(x + w, 0.0), 1.0), min(max(y + h, 0.0), 1.0)
    if x2 - x1 <= 1e-4 or y2 - y1 <= 1e-4:
        return None
    return (x1, y1, x2 - x1, y2 - y1)


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())
    return None if not name or name.lower() == PICASA_UNNAMED else name


def _num(v: float) -> str:
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# -- generic RDF ------------------------------------------------------------------------------------
def _struct(el: ET.Element) -> dict[str, ET.Element | str]:
    """The fields of an RDF struct value, whichever form it is written in (child elements with
    ``rdf:parseType="Resource"``, attribute shorthand, or a nested ``rdf:Description``)."""
    fields: dict[str, ET.Element | str] = {}
    nodes = [el]
    children = [c for c in el if isinstance(c.tag, str)]
    if len(children) == 1 and children[0].tag == RDF_DESCRIPTION:
        nodes.append(children[0])
        children = [c for c in children[0] if isinstance(c.tag, str)]
    for node in nodes:
        for name, value in node.attrib.items():
            if not name.startswith(f"{{{NS['rdf']}}}") and not name.startswith(f"{{{NS['xml']}}}"):
                fields.setdefault(name, value)
    for child in children:
        fields.setdefault(child.tag, child)
    return fields


def _array_items(prop: ET.Element) -> list[ET.Element]:
    for container in prop:
        if container.tag in RDF_CONTAINERS:
            return [li for li in container if li.tag == RDF_LI]
    return []


def _array_values(prop: ET.Element) -> list[str]:
    return [t for t in (_text(li) for li in _array_items(prop)) if t]


def _text(value: ET.Element | str | None) -> str | None:
    """A simple value: an attribute's string, an element's text, ``rdf:value``, or an Alt's first item."""
    if value is None or isinstance(value, str):
        return value
    if RDF_VALUE in value.attrib:
        return value.attrib[RDF_VALUE]
    for child in value:
        if child.tag == RDF_VALUE:
            return (child.text or "").strip()
        if child.tag in RDF_CONTAINERS:
            items = [li for li in child if li.tag == RDF_LI]
            return (items[0].text or "").strip() if items else None
    return (value.text or "").strip()


def _number(value: ET.Element | str | None) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        if "/" in text:  # rational form, as some writers use for dimensions
            a, b = text.split("/", 1)
            return float(a) / float(b)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def _resource(tag: str) -> ET.Element:
    return ET.Element(tag, {RDF_PARSETYPE: "Resource"})


def _leaf(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el


def _array(tag: str, container: str, values: Iterable[str]) -> ET.Element:
    prop = ET.Element(tag)
    c = ET.SubElement(prop, container)
    for v in values:
        _leaf(c, RDF_LI, v)
    return prop


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# -- serialiser -------------------------------------------------------------------------------------
def _qname(name: str, prefixes: dict[str, str]) -> str:
    if name.startswith("{"):
        uri, local = name[1:].split("}", 1)
        return f"{prefixes[uri]}:{local}"
    return name


def _escape(text: str, attr: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attr:
        text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return text.replace("\r", "&#13;")


def _write_element(out: io.StringIO, el: ET.Element, prefixes: dict[str, str], declare: bool = False, depth: int = 0) -> None:
    """Write one element; new elements (no whitespace of their own) are indented by nesting depth."""
    if el.tag is ET.Comment:
        out.write(f"<!--{el.text or ''}-->")
        return
    if el.tag is ET.ProcessingInstruction:
        out.write(f"<?{el.text or ''}?>")
        return
    name = _qname(el.tag, prefixes)
    out.write(f"<{name}")
    if declare:
        for uri, prefix in prefixes.items():
            if prefix != "xml":
                out.write(f'\n    xmlns:{prefix}="{_escape(uri, True)}"')
    out.writelines(f' {_qname(k, prefixes)}="{_escape(v, True)}"' for k, v in el.attrib.items())
    children = list(el)
    if not children and not el.text:
        out.write("/>")
        return
    out.write(">")
    if el.text:
        out.write(_escape(el.text))
    before = el.text or ""
    for child in children:
        if not before.strip() and not before.endswith((" ", "\n", "\t")):
            out.write("\n" + " " * (depth + 1))
        _write_element(out, child, prefixes, depth=depth + 1)
        before = child.tail or ""
        if before:
            out.write(_escape(before))
    if children and not before:
        out.write("\n" + " " * depth)
    out.write(f"</{name}>")
