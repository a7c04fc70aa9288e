"""Modicon's 3xxxx/4xxxx numbers are a table and a number, not an address.

Many manuals number input registers 30001.. and holding registers 40001.. (six digits: 300001.., 400001..;
discrete inputs 10001..): the leading digit names the table, the rest is the register number counted from 1.
Copied into a profile as is, `register: 40107` with `address_base: 1` is sent as address 40106, which the
device does not have or, worse, has. `modicon_problem` recognises the forms and says what to write.

A five-digit number is flagged only on the table its first digit names (4xxxx on holding, 3xxxx on input,
1xxxx on discrete inputs), since a holding register 10050 is an ordinary address. Maps that really use
addresses in those ranges (SunSpec starts at 40000) say `plain_register_numbers: true` in the profile. Six
digits are past the Modbus address space (65535), so they are always Modicon numbering.
"""

from __future__ import annotations

from typing import Final

#: Modicon's leading digit of each table by its profile name (coils are 0xxxx: no different from a plain
#: number). Names, not pantau.profiles.modbus.profile.Table, which validates with this module.
MODICON_DIGIT: Final = {"discrete_inputs": 1, "input": 3, "holding": 4}


def modicon_problem(number: int, table: str, *, plain_allowed: bool = False) -> str | None:
    """Why `number` on `table` reads as Modicon numbering and what to write instead; None when it does not."""
    for digit, digits in ((d, n) for n in (6, 5) for d in MODICON_DIGIT.values()):
        base = digit * 10 ** (digits - 1)
        last = base + (65536 if digits == 6 else 9999)
        if not base < number <= last:
            continue
        named = next(t for t, d in MODICON_DIGIT.items() if d == digit)
        if digits == 5 and (named != table or plain_allowed):
            return None
        register = number - base
        table_too = f"`table: {named}`, " if named != table else ""
        text = (
            f"register {number} is Modicon numbering ({digit}{'x' * (digits - 1)}: {named} register "
            f"{register} counted from 1): write {table_too}`register: {register}` and `address_base: 1` "
            f"(sent as address {register - 1})"
        )
        if digits == 5:
            text += (
                "; if the map really numbers registers this high (SunSpec's start at 40000), say "
                "`plain_register_numbers: true` in the profile"
            )
        return text
    return None
