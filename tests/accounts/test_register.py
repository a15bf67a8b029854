"""The resident register: importing, line numbers, scopes, verification."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from accounts.auth import password_hasher
from accounts.models import OrgLevel, RegisterEntry, Role, User
from accounts.register import RegisterImportFailed, import_register
from accounts.users import register_resident
from errors import PermissionDenied
from extensions import db
from tests.conftest import PASSWORD


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_register_import_verifies_matching_residents(make):
    community = make.organization(name="Spring")
    admin = make.admin()
    resident = register_resident(name="王芳", phone="139 1111 2222", community_id=community.id,
                                          password=PASSWORD, ph=password_hasher())
    assert not resident.is_verified
    report = import_register(admin, _csv(
        "name,phone,household,community",
        "王芳,13911112222,1-101,Spring",
        "李强,13911113333,1-102,Spring",
    ))
    db.session.commit()
    assert report.added == 2 and report.unchanged == 0 and report.verified == 1
    assert db.session.get(User, resident.id).is_verified
    again = import_register(admin, _csv("姓名,电话,户/单元,社区", "李强,13911113333,1-102,Spring"))
    assert (again.added, again.unchanged) == (0, 1)


def test_register_import_is_all_or_nothing_with_line_numbers(make):
    make.organization(name="Spring")
    admin = make.admin()
    with pytest.raises(RegisterImportFailed) as caught:
        import_register(admin, _csv(
            "name,phone,household,community",
            "王芳,13911112222,1-101,Spring",
            ",12,1-102,Spring",
            "李强,13911113333,1-103,Atlantis",
            "王芳,13911112222,1-101,Spring",
            "too,few",
        ))
    assert [e.line for e in caught.value.row_errors] == [3, 4, 5, 6]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegisterEntry)) == 0


def test_register_import_reads_gb18030_and_checks_the_header(make):
    make.organization(name="春晖社区")
    admin = make.admin()
    report = import_register(admin, "姓名,电话,户/单元,社区\n张伟,13800001111,2号楼,春晖社区\n".encode("gb18030"))
    assert report.added == 1
    with pytest.raises(RegisterImportFailed) as caught:
        import_register(admin, _csv("who,what", "a,b"))
    assert caught.value.row_errors[0].line == 1


def test_members_import_only_their_own_communities(make):
    township = make.organization(OrgLevel.township)
    mine = make.organization(parent=township, name="Mine")
    make.organization(name="Theirs")
    member = make.user((Role.member, mine))
    resident = make.user((Role.resident, mine))
    with pytest.raises(PermissionDenied):
        import_register(resident, _csv("name,phone,household,community", "A,13800000000,1,Mine"))
    with pytest.raises(RegisterImportFailed):
        import_register(member, _csv("name,phone,household,community", "A,13800000000,1,Theirs"))
    assert import_register(member, _csv("name,phone,household,community", "A,13800000000,1,Mine")).added == 1


@pytest.fixture
def twin_springs(make):
    """Two townships of one district, each with a community named Spring; only the west has Autumn."""
    district = make.organization(OrgLevel.district, name="Riverside")
    east = make.organization(OrgLevel.township, parent=district, name="East")
    west = make.organization(OrgLevel.township, parent=district, name="West")
    return {
        "east": east, "west": west,
        "east_spring": make.organization(parent=east, name="Spring"),
        "west_spring": make.organization(parent=west, name="Spring"),
        "west_autumn": make.organization(parent=west, name="Autumn"),
    }


def _entries() -> dict[str, int]:
    return dict(db.session.execute(sa.select(RegisterEntry.name, RegisterEntry.community_id)).all())


@pytest.mark.parametrize("header", ["name,phone,household,township,community", "姓名,电话,户/单元,街道,社区"])
def test_the_township_column_tells_same_named_communities_apart(make, twin_springs, header):
    import_register(make.admin(), _csv(
        header,
        "王芳,13911112222,1-101,West,Spring",
        "李强,13911113333,1-102,East,Spring",
    ))
    assert _entries() == {"王芳": twin_springs["west_spring"].id, "李强": twin_springs["east_spring"].id}


def test_a_community_name_shared_by_townships_is_refused_without_the_township(make, twin_springs):
    with pytest.raises(RegisterImportFailed) as caught:
        import_register(make.admin(), _csv(
            "name,phone,household,community",
            "王芳,13911112222,1-101,Autumn",
            "李强,13911113333,1-102,Spring",
        ))
    assert [e.line for e in caught.value.row_errors] == [3]
    message = str(caught.value.row_errors[0].message)
    assert "Spring" in message and "township" in message
    assert _entries() == {}


def test_a_unique_community_name_needs_no_township(make, twin_springs):
    import_register(make.admin(), _csv(
        "name,phone,household,township,community",
        "王芳,13911112222,1-101,,Autumn",
        "李强,13911113333,1-102,West,Spring",
    ))
    assert _entries() == {"王芳": twin_springs["west_autumn"].id, "李强": twin_springs["west_spring"].id}


def test_a_name_is_unambiguous_within_the_members_own_township(make, twin_springs):
    member = make.user((Role.member, twin_springs["east"]))
    import_register(member, _csv("name,phone,household,community", "王芳,13911112222,1-101,Spring"))
    assert _entries() == {"王芳": twin_springs["east_spring"].id}


def test_a_community_in_another_township_is_not_one_you_manage(make, twin_springs):
    with pytest.raises(RegisterImportFailed) as caught:
        import_register(make.admin(), _csv("name,phone,household,township,community", "王芳,13911112222,1-101,East,Autumn"))
    (error,) = caught.value.row_errors
    assert error.line == 2 and "East · Autumn" in str(error.message)


def test_the_district_column_tells_same_named_townships_apart(make):
    springs = {}
    for district_name in ("North district", "South district"):
        district = make.organization(OrgLevel.district, name=district_name)
        township = make.organization(OrgLevel.township, parent=district, name="East")
        springs[district_name] = make.organization(parent=township, name="Spring")
    admin = make.admin()
    with pytest.raises(RegisterImportFailed):
        import_register(admin, _csv("name,phone,household,township,community", "王芳,13911112222,1-101,East,Spring"))
    import_register(admin, _csv("区,街道,社区,姓名,电话,户", "South district,East,Spring,王芳,13911112222,1-101"))
    assert _entries() == {"王芳": springs["South district"].id}


def test_line_numbers_count_the_lines_of_quoted_fields(make):
    make.organization(name="Spring")
    with pytest.raises(RegisterImportFailed) as caught:
        import_register(make.admin(), _csv(
            "name,phone,household,community",
            '王芳,13911112222,"Building 1',
            'Room 101",Spring',
            "李强,12,1-102,Spring",
            '王芳,13911112222,"Building 1',
            'Room 101",Spring',
        ))
    assert [e.line for e in caught.value.row_errors] == [4, 5]
    assert "line 2" in str(caught.value.row_errors[1].message)


def test_windows_line_ends_and_quoted_line_breaks_import(make):
    spring = make.organization(name="Spring")
    data = 'name,phone,household,community\r\n王芳,13911112222,"Building 1\r\nRoom 101",Spring\r\n'.encode()
    assert import_register(make.admin(), data).added == 1
    assert db.session.scalar(sa.select(RegisterEntry.household).where(RegisterEntry.community_id == spring.id)) == (
        "Building 1\r\nRoom 101"
    )
