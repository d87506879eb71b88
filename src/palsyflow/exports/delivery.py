"""The e-mail that tells a site's clinicians a report is new or changed (pure: builds, never sends).

It names the subject by pseudonym only and links to the report (``link_base_url``);
the PDF is attached only when the site asks for it (``params.delivery.sites.<site>.attach``),
since an e-mail leaves the site's systems. Sending is :mod:`palsyflow.stages.deliver`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid


def report_link(base_url: str, site: str, subject: str, report_id: int, sha256: str) -> str:
    """``<base>/site-<s>/sub-<id>/report-<n>?v=<sha12>``: the report version, no date, no name."""
    return f"{base_url.rstrip('/')}/site-{site}/sub-{subject}/report-{report_id}?v={sha256[:12]}"


def notification(
    *,
    site: str,
    subject: str,
    report_id: int,
    sha256: str,
    sender: str,
    recipients: Sequence[str],
    link: str,
    changed: bool,
    pdf: bytes | None = None,
    delivery_id: int | None = None,
) -> EmailMessage:
    """The notification e-mail of one report version.

    Parameters
    ----------
    site, subject : str
        Labels (the subject's pseudonym is the only thing naming the patient).
    report_id, sha256 : int, str
        The store's report row and the PDF's digest (the version).
    sender, recipients : str, sequence of str
        ``From`` and ``To``.
    link : str
        Where the clinician opens the report (:func:`report_link`).
    changed : bool
        The session had an earlier version of the report.
    pdf : bytes, optional
        Attached as ``report-<n>.pdf`` when given.
    delivery_id : int, optional
        Written as ``X-Palsyflow-Delivery`` (the outbox row), for tracing.

    Returns
    -------
    email.message.EmailMessage

    Raises
    ------
    ValueError
        If ``recipients`` is empty.
    """
    if not recipients:
        raise ValueError(f"site {site!r} has no delivery recipients")
    msg = EmailMessage()
    what = "An updated" if changed else "A new"
    msg["Subject"] = f"palsyflow: {what.split()[1]} report for sub-{subject} (site {site})"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Message-ID"] = make_msgid(domain="palsyflow.invalid")
    if delivery_id is not None:
        msg["X-Palsyflow-Delivery"] = str(delivery_id)
    msg.set_content(
        f"{what} facial function report is available for subject sub-{subject} of site {site}.\n\n"
        f"Open it here: {link}\n\nReport version: {sha256[:12]}\n"
        + ("The PDF is attached.\n" if pdf is not None else "")
    )
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"report-{report_id}.pdf")
    return msg
