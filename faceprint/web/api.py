"""JSON API blueprint ``/api/v1``: detect, verify, recognise, celebrity look-alike and the people of the gallery.

Every view goes through the app's ``FaceRecognizer``; model inference runs when the app's scheduler gives the request
a place, measured by the megapixels of its photos."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from faceprint.errors import FaceprintError, UnknownPhotoError
from faceprint.gallery.base import normalize_name
from faceprint.scoring import FPIR_RANGE
from faceprint.web import schemas
from faceprint.web.errorhandlers import ApiError
from faceprint.web.keys import ADMIN
from faceprint.web.limits import expensive
from faceprint.web.openapi import build_spec, operation
from faceprint.web.runtime import api_prefix, get_recognizer, inference
from faceprint.web.security import GALLERY, PUBLIC, current_role, requires
from faceprint.web.uploads import (
    Upload,
    body_kind,
    face_choice,
    image_field,
    image_list,
    image_size,
    json_body,
    number,
    relabel,
    relabelled,
    whole_number,
    work_of,
)

api = Blueprint("api", __name__)

CELEBRITY_NOTICE = (
    "A look-alike game: the model knows only 31 celebrities and names the one each face resembles most. "
    "It does not identify anyone, and a high confidence means only that no other of the 31 fits better."
)
MAX_TOP = 50
CELEBRITY_TOP = 31
MAX_PHOTO_ID = 2**53


def _run(uploads: list[Upload], call):
    """Run one recognizer call when the scheduler gives it a place, naming uploads by their labels in any error."""
    cost = work_of(uploads)
    try:
        with inference(cost):
            return call()
    except FaceprintError as error:
        raise relabelled(error, uploads) from None


def _person_name(raw: object) -> str:
    """A new name for a person, by the gallery's rules (NFC; no control, format or separator characters, no '/')."""
    return normalize_name(raw)


def _thumbnail_url(name: str, photo_id: int | None = None) -> str:
    base = f"{api_prefix()}/people/{quote(name, safe='')}"
    return f"{base}/photos/{photo_id}/thumbnail" if photo_id is not None else f"{base}/thumbnail"


def _person_json(person: dict) -> dict:
    return {
        "name": person["name"],
        "photos": person["photos"],
        "created": person["created"],
        "updated": person["updated"],
        "thumbnail_url": _thumbnail_url(person["name"]) if person.get("has_thumbnail", True) else None,
        "enrollment": person.get("enrollment"),
    }


# -- service -------------------------------------------------------------------------------------------------


@api.get("/health")
@requires(PUBLIC)
@operation(response=schemas.HealthResponse, tag="service")
def health() -> Response:
    """Liveness and what is loaded (no inference): for load balancers and monitoring; the number of people only
    for the admin."""
    recognizer = get_recognizer()
    gallery = recognizer.gallery
    answer = {
        "status": "ok",
        "models": list(recognizer.models),
        "gallery": urlsplit(gallery.url).scheme.lower() or "unknown",
    }
    if current_role() == ADMIN:
        answer["people"] = len(gallery.people())
    return jsonify(answer)


@api.get("/openapi.json")
@requires(PUBLIC)
@operation(produces="application/json", tag="service")
def openapi_document() -> Response:
    """This API's OpenAPI 3 document, generated from the code."""
    return jsonify(build_spec(current_app._get_current_object()))


@api.get("/docs")
@requires(PUBLIC)
@operation(produces="text/html", tag="service")
def docs() -> str:
    """Interactive API documentation (Swagger UI served by this server) over the OpenAPI document."""
    from faceprint.web.api_docs import swagger_ui_version

    spec = build_spec(current_app._get_current_object())
    return render_template("api_docs.html", spec=spec, swagger_ui=swagger_ui_version())


# -- faces ---------------------------------------------------------------------------------------------------


@api.post("/detect")
@expensive
@operation(response=schemas.DetectResponse, form=schemas.ImageForm, json=schemas.ImageJson)
def detect() -> Response:
    """Every face in an image: box, detection score and five landmarks, largest first."""
    upload = image_field("image")
    width, height = image_size(upload)
    faces = _run([upload], lambda: get_recognizer().describe_faces(upload.data))
    return jsonify(width=width, height=height, faces=faces)


@api.post("/verify")
@expensive
@operation(response=schemas.VerifyResponse, form=schemas.VerifyForm, json=schemas.VerifyJson)
def verify() -> Response:
    """Are the largest faces of two images the same person? Fused similarity, threshold and per-model scores."""
    first, second = image_field("image_a"), image_field("image_b")
    for upload in (first, second):
        image_size(upload)
    return jsonify(_run([first, second], lambda: get_recognizer().verify(first.data, second.data)))


@api.post("/recognize")
@expensive
@operation(response=schemas.RecognizeResponse, form=schemas.RecognizeForm, json=schemas.RecognizeJson)
def recognize() -> Response:
    """Who is every face? The enrolled person (identity null = unknown), similarity, threshold and candidates."""
    upload = image_field("image")
    threshold = number("threshold", 0.0, 100.0)
    fpir = number("fpir", *FPIR_RANGE)
    if threshold is not None and fpir is not None:
        raise ApiError("give 'threshold' or 'fpir', not both")
    top = whole_number("top", 1, MAX_TOP, 3)
    width, height = image_size(upload)
    faces = _run([upload], lambda: get_recognizer().recognize(upload.data, threshold=threshold, top=top, fpir=fpir))
    return jsonify(width=width, height=height, faces=faces)


@api.post("/celebrity")
@expensive
@operation(response=schemas.CelebrityResponse, form=schemas.CelebrityForm, json=schemas.CelebrityJson)
def celebrity() -> Response:
    """Celebrity look-alike game: which of 31 celebrities every face resembles most, with the top guesses."""
    upload = image_field("image")
    top = whole_number("top", 1, CELEBRITY_TOP, 3)
    width, height = image_size(upload)
    faces = _run([upload], lambda: get_recognizer().predict_celebrity(upload.data, top=top))
    return jsonify(width=width, height=height, faces=faces, notice=CELEBRITY_NOTICE)


# -- people --------------------------------------------------------------------------------------------------


@api.get("/people")
@requires(GALLERY)
@operation(response=schemas.PeopleResponse, tag="people")
def list_people() -> Response:
    """Every enrolled person: name, number of photos, when created and changed, thumbnail URL."""
    return jsonify(people=[_person_json(p) for p in get_recognizer().people()])


def _enroll(name: str) -> tuple[Response, int]:
    face = face_choice()
    uploads = image_list("images")
    result = _run(uploads, lambda: get_recognizer().enroll(name, [u.data for u in uploads], face=face)).to_dict()
    for upload, photo in zip(uploads, result["photos"]):
        photo["source"] = upload.label
        if photo.get("reason"):
            photo["reason"] = relabel(photo["reason"], [upload])
        photo.pop("has_image", None)
    if result["accepted"] == 0:
        reasons = "; ".join(photo["reason"] for photo in result["photos"] if photo.get("reason"))
        raise ApiError(
            f"no photo of {name} was enrolled: {reasons}",
            code="no_photo_accepted",
            http_status=422,
            name=result["name"],
            accepted=0,
            photos=result["photos"],
        )
    return jsonify(result), 201


@api.post("/people")
@requires(ADMIN)
@expensive
@operation(
    response=schemas.EnrollResponse,
    status=201,
    form=schemas.EnrollForm,
    json=schemas.EnrollJson,
    extra={422: ("no photo was accepted; nothing stored", schemas.EnrollRefusedResponse)},
    tag="people",
)
def enroll() -> tuple[Response, int]:
    """Enroll a person (or add to one) from photos: each is accepted, or refused with a reason."""
    raw = json_body().get("name") if body_kind() == "json" else request.form.get("name")
    if raw is None:
        raise ApiError("the person's 'name' is missing")
    return _enroll(_person_name(raw))


@api.get("/people/<name>")
@requires(GALLERY)
@operation(response=schemas.PersonResponse, tag="people")
def get_person(name: str) -> Response:
    """One enrolled person."""
    return jsonify(_person_json(get_recognizer().person(name)))


@api.patch("/people/<name>")
@requires(ADMIN)
@operation(response=schemas.PersonResponse, json=schemas.RenameJson, tag="people")
def rename_person(name: str) -> Response:
    """Rename a person (409 if the new name is taken)."""
    raw = json_body().get("name") if body_kind() == "json" else request.form.get("name")
    if raw is None:
        raise ApiError("the new 'name' is missing")
    new = _person_name(raw)
    recognizer = get_recognizer()
    recognizer.rename(name, new)
    return jsonify(_person_json(recognizer.person(new)))


@api.delete("/people/<name>")
@requires(ADMIN)
@operation(response=schemas.DeletedPersonResponse, tag="people")
def delete_person(name: str) -> Response:
    """Delete a person and every trace of them: photos, embeddings, thumbnails."""
    recognizer = get_recognizer()
    person = recognizer.person(name)["name"]
    recognizer.delete(person)
    return jsonify(deleted=person)


@api.get("/people/<name>/thumbnail")
@requires(GALLERY)
@operation(produces="image/jpeg", tag="people")
def person_thumbnail(name: str) -> Response:
    """The person's face thumbnail (96x96 JPEG, from their oldest photo that has one)."""
    return _jpeg(get_recognizer().thumbnail(name), f"{name!r} has no thumbnail")


@api.get("/people/<name>/photos")
@requires(GALLERY)
@operation(response=schemas.PhotosResponse, tag="people")
def list_photos(name: str) -> Response:
    """A person's enrolled photos, oldest first."""
    recognizer = get_recognizer()
    person = recognizer.person(name)["name"]
    photos = [
        {
            "photo_id": p["photo_id"],
            "created": p["created"],
            "quality": p["quality"],
            "thumbnail_url": _thumbnail_url(person, p["photo_id"]),
        }
        for p in recognizer.photos(person)
    ]
    return jsonify(name=person, photos=photos)


@api.post("/people/<name>/photos")
@requires(ADMIN)
@expensive
@operation(
    response=schemas.EnrollResponse,
    status=201,
    form=schemas.PhotosForm,
    json=schemas.PhotosJson,
    extra={422: ("no photo was accepted; nothing stored", schemas.EnrollRefusedResponse)},
    tag="people",
)
def add_photos(name: str) -> tuple[Response, int]:
    """Add photos to an enrolled person (same answer as enrollment)."""
    return _enroll(get_recognizer().person(name)["name"])


@api.delete("/people/<name>/photos/<int:photo_id>")
@requires(ADMIN)
@operation(response=schemas.DeletedPhotoResponse, tag="people")
def delete_photo(name: str, photo_id: int) -> Response:
    """Remove one photo; a person left without photos is deleted."""
    recognizer = get_recognizer()
    person = recognizer.person(name)["name"]
    recognizer.remove_image(person, _checked_photo_id(person, photo_id))
    remaining = [p for p in recognizer.people() if p["name"] == person]
    return jsonify(deleted=photo_id, name=person, person_deleted=not remaining)


@api.get("/people/<name>/photos/<int:photo_id>/thumbnail")
@requires(GALLERY)
@operation(produces="image/jpeg", tag="people")
def photo_thumbnail(name: str, photo_id: int) -> Response:
    """One photo's face thumbnail (96x96 JPEG)."""
    return _jpeg(
        get_recognizer().thumbnail(name, _checked_photo_id(name, photo_id)),
        f"photo {photo_id} of {name!r} has no thumbnail",
    )


def _jpeg(data: bytes | None, missing: str) -> Response:
    if data is None:
        raise ApiError(missing, code="no_thumbnail", http_status=404)
    return Response(data, mimetype="image/jpeg")


def _checked_photo_id(name: str, photo_id: int) -> int:
    """Photo ids are database integers: a larger number cannot name a photo."""
    if photo_id > MAX_PHOTO_ID:
        raise UnknownPhotoError(f"{name!r} has no photo with id {photo_id}")
    return photo_id
