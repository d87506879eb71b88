"""Standard exports of a site's data: BIDS (research), FHIR R4 (clinical systems), and the date shift they share."""
