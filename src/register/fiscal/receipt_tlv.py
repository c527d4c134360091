"""The TLV list a register sends to the FN with 07h for a receipt (ffd-receipt.md §3), and its 07h chunks."""

from __future__ import annotations

from collections.abc import Iterator

from register.domain.receipt import Receipt, ReceiptLine
from register.domain.vat import VatRate
from register.fiscal.tlv import byte_tlv, fvln_tlv, iter_tlv, split_tlv, stlv, string_tlv, vln_tlv

FFD_VERSION_1_2 = 4  # tag 1209 (ffd-receipt.md §3: widely used, unverified in a spec)
SEND_TLV_LIMIT = 1024  # DATA of one 07h frame (fn-protocol.md §13)

# Receipt-level VAT tags. 1102–1107 predate the 2026 rates; 22 % takes the slots of 20 % (the standard
# rate), as the two are never valid on the same day. 5 %, 7 %, 5/105 and 7/107 have no receipt-level
# tag we can verify (ffd-receipt.md §3: KassArray's 1115/1119/1120 structure is unverified and clashes
# with FFD 1.05 meanings), so none is emitted for them: their items' 1200 carries the VAT.
RECEIPT_VAT_TAGS: dict[VatRate, int] = {
    VatRate.VAT22: 1102,
    VatRate.VAT20: 1102,
    VatRate.VAT10: 1103,
    VatRate.VAT0: 1104,  # the amount at 0 %, not a VAT amount
    VatRate.NO_VAT: 1105,  # the amount without VAT
    VatRate.VAT22_122: 1106,
    VatRate.VAT20_120: 1106,
    VatRate.VAT10_110: 1107,
}


def build_receipt_tlv(receipt: Receipt) -> bytes:
    return b"".join(_receipt_tlvs(receipt))


def item_tlv(line: ReceiptLine) -> bytes:
    """One 1059 item: name, unit price, quantity, total, VAT rate and amount, 1214, 1212, measure."""
    children = [
        string_tlv(1030, line.name),
        vln_tlv(1079, line.price),
        fvln_tlv(1023, *line.quantity.digits_and_scale()),
        vln_tlv(1043, line.total),
        byte_tlv(1199, line.vat.code),
    ]
    if line.vat is not VatRate.NO_VAT:  # an item not subject to VAT has no VAT amount to state
        children.append(vln_tlv(1200, line.vat_amount))
    children += [
        byte_tlv(1214, line.method),
        byte_tlv(1212, line.item_type),
        byte_tlv(2108, line.measure),
    ]
    return stlv(1059, children)


def chunk_tlv(tlv: bytes, limit: int = SEND_TLV_LIMIT) -> list[bytes]:
    """Whole top-level TLVs packed in order into chunks of at most `limit` bytes, one chunk per 07h."""
    chunks: list[bytes] = []
    current = b""
    for encoded in split_tlv(tlv):
        if len(encoded) > limit:
            tag = next(iter_tlv(encoded))[0]
            raise ValueError(f"TLV {tag} is {len(encoded)} bytes, over the {limit}-byte chunk limit")
        if len(current) + len(encoded) > limit:
            chunks.append(current)
            current = b""
        current += encoded
    if current:
        chunks.append(current)
    return chunks


def _receipt_tlvs(receipt: Receipt) -> Iterator[bytes]:
    seller = receipt.seller
    yield string_tlv(1048, seller.name)
    yield string_tlv(1018, seller.inn)  # a 10-digit INN as given, unpadded (the TLV string is variable)
    yield string_tlv(1009, seller.address)
    yield string_tlv(1187, seller.place)
    if receipt.cashier is not None:
        yield string_tlv(1021, receipt.cashier)
    yield byte_tlv(1054, receipt.operation)
    yield byte_tlv(1055, seller.tax_system)
    for line in receipt.lines:
        yield item_tlv(line)
    yield vln_tlv(1020, receipt.total)
    for kind, amount in sorted(receipt.payment_totals().items(), key=lambda entry: entry[0].tag):
        if amount > 0:
            yield vln_tlv(kind.tag, amount)
    yield from _vat_total_tlvs(receipt)
    if receipt.customer_contact is not None:
        yield string_tlv(1008, receipt.customer_contact)
        if seller.sender_email is not None:
            yield string_tlv(1117, seller.sender_email)
    yield byte_tlv(1209, FFD_VERSION_1_2)


def _vat_total_tlvs(receipt: Receipt) -> Iterator[bytes]:
    by_tag: dict[int, int] = {}
    for rate, amount in receipt.vat_totals().items():
        tag = RECEIPT_VAT_TAGS.get(rate)
        if tag is not None:
            by_tag[tag] = by_tag.get(tag, 0) + amount
    for tag in sorted(by_tag):
        yield vln_tlv(tag, by_tag[tag])
