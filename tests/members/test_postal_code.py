"""One postal-code normaliser (members.importing.normalize_postal_code) for the imports, the person
form and the address correction after a 宛所不明 return (members.services.person_correct_address)."""

import pytest
from django.core.exceptions import ValidationError

from members.importing import normalize_postal_code
from members.services import person_correct_address
from tests.fees.builders import member, refresh


@pytest.mark.parametrize(
    "typed", ["1000005", "100-0005", "１００－０００５", "〒100-0005", " 〒１００-０００５ "]
)
def test_the_ways_a_clerk_types_a_postal_code_are_stored_as_seven_digits(typed):
    assert normalize_postal_code(typed) == "1000005"


@pytest.mark.parametrize("typed", ["12-34", "100-00055", "一〇〇", "100 0005"])
def test_anything_else_is_refused(typed):
    with pytest.raises(ValueError, match="郵便番号は7桁"):
        normalize_postal_code(typed)


@pytest.mark.django_db
def test_the_address_correction_uses_it_and_refuses_an_empty_code(clerk):
    m = member()
    with pytest.raises(ValidationError, match="郵便番号を入力"):
        person_correct_address(person=m, postal_code=" ", address="東京都", acting_user=clerk)
    saved, _ = person_correct_address(
        person=m, postal_code="〒１５０-０００１", address=" 東京都渋谷区 ", acting_user=clerk
    )
    m = refresh(m)
    assert (
        (m.postal_code, m.address)
        == ("1500001", "東京都渋谷区")
        == (saved.postal_code, saved.address)
    )
