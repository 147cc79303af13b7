"""Reading what operators type or upload in the console pages."""

import json
from typing import Any

from backend.common.errors import ServiceError


def regions_from_geojson(text: str) -> list[dict[str, Any]]:
    """Turn pasted or drawn GeoJSON into the regions the incident services take.

    Accepts a Polygon or MultiPolygon geometry, a Feature, or a FeatureCollection. A Point
    feature with a `radius_m` property is a circle (that is how the map writes circles).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ServiceError(
            f"The regions are not valid GeoJSON: {exc}.", code="invalid_geojson"
        ) from None
    if not isinstance(data, dict):
        raise ServiceError("The regions must be a GeoJSON object.", code="invalid_geojson")
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise ServiceError(
                "A FeatureCollection needs a 'features' list.", code="invalid_geojson"
            )
    elif data.get("type") == "Feature":
        features = [data]
    else:
        features = [{"type": "Feature", "geometry": data, "properties": {}}]
    regions = []
    for number, feature in enumerate(features, 1):
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            raise ServiceError(f"Feature {number} has no geometry.", code="invalid_geojson")
        geometry = feature["geometry"]
        properties = feature.get("properties") or {}
        if geometry.get("type") == "Point":
            coordinates = geometry.get("coordinates")
            radius = properties.get("radius_m") if isinstance(properties, dict) else None
            if not (isinstance(coordinates, list) and len(coordinates) == 2 and radius):
                raise ServiceError(
                    f"Feature {number}: a point needs coordinates and a 'radius_m' property.",
                    code="invalid_geojson",
                )
            regions.append(
                {"center": {"lat": coordinates[1], "lon": coordinates[0]}, "radius_m": radius}
            )
        else:
            regions.append({"geometry": geometry})
    if not regions:
        raise ServiceError("Draw or paste at least one region.", code="no_region")
    return regions


def regions_as_geojson(regions: Any) -> dict[str, Any]:
    """The stored regions of an incident as the FeatureCollection the map and textarea use."""
    features = []
    for region in regions:
        if region.geometry:
            features.append({"type": "Feature", "geometry": region.geometry, "properties": {}})
        else:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [region.center_lon, region.center_lat],
                    },
                    "properties": {"radius_m": region.radius_m},
                }
            )
    return {"type": "FeatureCollection", "features": features}
