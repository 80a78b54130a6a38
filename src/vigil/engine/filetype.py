"""ClamAV-compatible file typing: the 1.4.6 built-in magic table plus its text heuristic.

ClamAV decides a layer's type from its first 1024 bytes in three steps, and the order is observable in
which target types apply, so it is reproduced step by step rather than approximated:

1. fixed magic at a fixed offset (`.ftm` type 0); the table is a linked list built by prepending, so the
   *last* line of the table is tried first;
2. if nothing matched: the text heuristic (ASCII / UTF-8 / UTF-16 / binary), then the tar checksum test;
3. for text and binary results only: the body-syntax magic (`.ftm` type 1, e.g. HTML markers, mail headers,
   embedded PE/SFX markers) folded by ClamAV's "bigger type number wins" rule, then an HTML check on a
   UTF-16 view.

A user `.ftm` with any type-0 line replaces the whole built-in table (verified with clamscan 1.4.6: a zip is
then "binary data"); a user file with only type-1 lines adds to it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from vigil.types import FileType

FLEVEL = 216  # clamscan 1.4.6's functionality level; table lines outside their range are skipped
MAGIC_BUFFER_SIZE = 1024  # ClamAV types a file from this many leading bytes

# The built-in table of libclamav 1.4.6 (MAGICTYPE:OFFSET:MAGIC:NAME:RTYPE:TYPE[:MinFL[:MaxFL]]), in its
# order. Python byte-code magics are generated below. LHA_LZH and ALZ lines are left out until
# `FileType` knows those names; HFS+ partition magic (type 4) only types partitions, not files.
_BUILTIN_LINES: tuple[str, ...] = (
    "0:0:1f8b:GZip:CL_TYPE_ANY:CL_TYPE_GZ",
    "0:0:23407e5e:SCRENC:CL_TYPE_ANY:CL_TYPE_SCRENC",
    "0:0:28546869732066696c65206d75737420626520636f6e76657274656420776974682042696e48657820342e3029:B"
    "inHex:CL_TYPE_ANY:CL_TYPE_BINHEX",
    "0:0:2e524d46:Real Media File:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:3e46726f6d20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:424d:BMP:CL_TYPE_ANY:CL_TYPE_GRAPHICS",
    "0:0:425a68:BZip:CL_TYPE_ANY:CL_TYPE_BZ",
    "0:0:446174653a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:44656c6976657265642d546f3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:44656c69766572792d646174653a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:456e76656c6f70652d746f3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:466f723a20:Eserv mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:46726f6d20:MBox:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:46726f6d3a20:Exim mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:48692e20546869732069732074686520716d61696c2d73656e64:Qmail bounce:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:494433:MP3:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:49545346:MS CHM:CL_TYPE_ANY:CL_TYPE_MSCHM",
    "0:0:4d5a:MS-EXE/DLL:CL_TYPE_ANY:CL_TYPE_MSEXE",
    "0:0:4d6573736167652d49443a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:4d6573736167652d49643a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:4f676753:Ogg Stream:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:504b0304:ZIP:CL_TYPE_ANY:CL_TYPE_ZIP",
    "0:0:504b3030504b0304:ZIP:CL_TYPE_ANY:CL_TYPE_ZIP",
    "0:0:52494646:RIFF:CL_TYPE_ANY:CL_TYPE_RIFF",
    "0:0:52494658:RIFX:CL_TYPE_ANY:CL_TYPE_RIFF",
    "0:0:52617221:RAR:CL_TYPE_ANY:CL_TYPE_RAR",
    "0:0:52656365697665643a20:Raw mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:52657475726e2d506174683a20:Maildir:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:52657475726e2d706174683a20:Maildir:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:535a4444:compress.exed:CL_TYPE_ANY:CL_TYPE_MSSZDD",
    "0:0:5375626a6563743a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:546f3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d4170706172656e746c792d546f3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d455653:EVS mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d456e76656c6f70652d46726f6d3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d4f726967696e616c2d546f3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d5265616c2d546f3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d53696576653a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d53796d616e7465632d:Symantec:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:582d5549444c3a20:Mail:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:60ea:ARJ:CL_TYPE_ANY:CL_TYPE_ARJ",
    "0:0:626567696e20:UUencoded:CL_TYPE_ANY:CL_TYPE_UUENCODED",
    "0:0:763a0a52656365697665643a20:VPOP3 Mail (UNIX):CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:763a0d0a52656365697665643a20:VPOP3 Mail (DOS):CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:789f3e22:TNEF:CL_TYPE_ANY:CL_TYPE_TNEF",
    "0:0:7f454c46:ELF:CL_TYPE_ANY:CL_TYPE_ELF",
    "0:0:b6b9acaefeffffff:CryptFF:CL_TYPE_ANY:CL_TYPE_CRYPTFF",
    "0:0:d0cf11e0a1b11ae1:OLE2 container:CL_TYPE_ANY:CL_TYPE_MSOLE2",
    "0:0:fffb90:MP3:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "1:*:3c4120*(68|48)(72|52)4546:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c4120*(68|48)(72|52)6566:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c484541443e:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c48544d4c3e:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c486561643e:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c48746d6c3e:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c494652414d45:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c494d47:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c496d67:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c4f424a454354:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c4f626a656374:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c534352495054:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c536372697074:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c5441424c45:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c6120*(68|48)(72|52)4546:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c6120*(68|48)(72|52)6566:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c686561643e:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c68746d6c3e:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c696672616d65:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c696d67:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c6f626a656374:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c736372697074:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:3c7461626c65:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "1:*:4d5a{60-300}50450000:PE:CL_TYPE_ANY:CL_TYPE_MSEXE",
    "1:*:504b0304:ZIP-SFX:CL_TYPE_ANY:CL_TYPE_ZIPSFX",
    "1:*:526172211a0700:RAR-SFX:CL_TYPE_ANY:CL_TYPE_RARSFX",
    "1:*:60ea{7}0002:ARJ-SFX:CL_TYPE_ANY:CL_TYPE_ARJSFX",
    "1:*:60ea{7}0102:ARJ-SFX:CL_TYPE_ANY:CL_TYPE_ARJSFX",
    "1:*:60ea{7}0202:ARJ-SFX:CL_TYPE_ANY:CL_TYPE_ARJSFX",
    "1:*:a3484bbe986c4aa9994c530a86d6487d41553321454130(35|36):AUTOIT:CL_TYPE_ANY:CL_TYPE_AUTOIT",
    "1:*:efbeadde4e756c6c736f6674496e7374:NSIS:CL_TYPE_ANY:CL_TYPE_NULSFT",
    "0:0:5349502d48495420285349502f48:SIP log:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "1:0:3c2540204c414e4755414745203d:HTML data:CL_TYPE_ANY:CL_TYPE_HTML",
    "0:257:7573746172:TAR-POSIX:CL_TYPE_ANY:CL_TYPE_POSIX_TAR",
    "0:0:5b616c69617365735d:mirc ini:CL_TYPE_ANY:CL_TYPE_SCRIPT",
    "1:0,1024:0a(46|66)726f6d3a20{-1024}0a(4d|6d)(49|69)(4d|6d)(45|65)2d(56|76)657273696f6e3a20:Mail "
    "file:CL_TYPE_ANY:CL_TYPE_MAIL",
    "1:0,1024:0a(46|66)726f6d3a20{-2048}0a(43|63)6f6e74656e742d(54|74)7970653a20:Mail file:CL_TYPE_AN"
    "Y:CL_TYPE_MAIL",
    "1:0,1024:0a(4d|6d)(49|69)(4d|6d)(45|65)2d(56|76)657273696f6e3a20{-2048}0a(43|63)6f6e74656e742d(5"
    "4|74)7970653a20:Mail file:CL_TYPE_ANY:CL_TYPE_MAIL",
    "1:0,1024:0a(4d|6d)6573736167652d(49|69)643a20{-1024}0a(43|63)6f6e74656e742d(54|74)7970653a20:Mai"
    "l file:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:cefaedfe:Mach-O LE:CL_TYPE_ANY:CL_TYPE_MACHO:45",
    "0:0:cffaedfe:Mach-O LE 64-bit:CL_TYPE_ANY:CL_TYPE_MACHO:45",
    "0:0:feedface:Mach-O BE:CL_TYPE_ANY:CL_TYPE_MACHO:45",
    "0:0:feedfacf:Mach-O BE 64-bit:CL_TYPE_ANY:CL_TYPE_MACHO:45",
    "0:0:377abcaf271c:7zip:CL_TYPE_ANY:CL_TYPE_7Z:47",
    "0:0:52656365697665642d5350463a20:Mail file:CL_TYPE_ANY:CL_TYPE_MAIL",
    "1:0,2048:0a(52|72)656365697665643a20{-2048}0a(43|63)6f6e74656e742d(54|74)7970653a20:Mail file:CL"
    "_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:303730373031:CPIO NEWC:CL_TYPE_ANY:CL_TYPE_CPIO_NEWC:45",
    "0:0:303730373032:CPIO CRC:CL_TYPE_ANY:CL_TYPE_CPIO_CRC:45",
    "0:0:303730373037:CPIO ODC:CL_TYPE_ANY:CL_TYPE_CPIO_ODC:45",
    "0:0:71c7:CPIO OLD BINARY BE:CL_TYPE_ANY:CL_TYPE_CPIO_OLD:45",
    "0:0:c771:CPIO OLD BINARY LE:CL_TYPE_ANY:CL_TYPE_CPIO_OLD:45",
    "1:*:496e7374616c6c536869656c6400{292}0600000000000000????????????????0000000001:ISHIELD-MSI:CL_T"
    "YPE_ANY:CL_TYPE_ISHIELD_MSI:45",
    "0:0:255044462d:PDF document:CL_TYPE_ANY:CL_TYPE_PDF:55",
    "1:*:255044462d??2e:PDF:CL_TYPE_ANY:CL_TYPE_PDF:55",
    "1:*:257064662d??2e:PDF:CL_TYPE_ANY:CL_TYPE_PDF:55",
    "0:0:53594d430100:SYM DATFILE:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "1:0,128:2f5247420a49440affffffffffffffffffffffffffffffffffffffffffffffff:PDF image:CL_TYPE_ANY:C"
    "L_TYPE_IGNORED",
    "0:0:377f0682002de218:SQLite WAL:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:377f0683002de218:SQLite WAL:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:53514c69746520666f726d6174203300:SQLite database:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:d9d505f920a163d7:SQLite journal:CL_TYPE_ANY:CL_TYPE_IGNORED",
    "0:0:465753:SWF (uncompressed):CL_TYPE_ANY:CL_TYPE_SWF:71",
    "0:0:4d53434600000000:MS CAB:CL_TYPE_ANY:CL_TYPE_MSCAB",
    "1:*:4d53434600000000:CAB-SFX:CL_TYPE_ANY:CL_TYPE_CABSFX",
    "1:*:014344303031{2043-2443}4344303031:ISO9660:CL_TYPE_ANY:CL_TYPE_ISO9660:71",
    "1:0,32768:004245413031:UDF:CL_TYPE_ANY:CL_TYPE_UDF:180",
    "0:0:5b616c69617365735d:TAR-POSIX-CVE-2012-1419:CL_TYPE_ANY:CL_TYPE_POSIX_TAR",
    "1:8,12:19040010:SIS:CL_TYPE_ANY:CL_TYPE_SIS",
    "1:0,1024:44656c6976657265642d546f3a{-256}52656365697665643a:Mail file:CL_TYPE_ANY:CL_TYPE_MAIL",
    "0:0:0000000c6a5020200d0a870a:JPEG2000:CL_TYPE_ANY:CL_TYPE_GRAPHICS",
    "0:0:000001b3:MPEG video stream:CL_TYPE_ANY:CL_TYPE_BINARY_DATA",
    "0:0:000001ba:MPEG sys stream:CL_TYPE_ANY:CL_TYPE_BINARY_DATA",
    "1:0:cafebabe0000000?:Universal Binary:CL_TYPE_ANY:CL_TYPE_MACHO_UNIBIN:75",
    "1:0:cafebabe0000001?:Universal Binary:CL_TYPE_ANY:CL_TYPE_MACHO_UNIBIN:75",
    "1:0:cafebabe0000002?:Java class file:CL_TYPE_ANY:CL_TYPE_JAVA:75",
    "1:0:cafebabe0000003?:Java class file:CL_TYPE_ANY:CL_TYPE_JAVA:75",
    "0:0:78617221:XAR container file:CL_TYPE_ANY:CL_TYPE_XAR:75",
    "1:EOF-512:6b6f6c79:DMG container file:CL_TYPE_ANY:CL_TYPE_DMG:75",
    "0:0:fd377a585a00:XZ container file:CL_TYPE_ANY:CL_TYPE_XZ:76",
    "1:0:3c3f786d6c2076657273696f6e3d22312e3022{0-1024}3c576f726b626f6f6b:Microsoft Excel 2003 XML Do"
    "cument:CL_TYPE_ANY:CL_TYPE_XML_XL:80",
    "1:0:3c3f786d6c2076657273696f6e3d22312e3022{0-1024}3c776f7264446f63756d656e74:Microsoft Word 2003"
    " XML Document:CL_TYPE_ANY:CL_TYPE_XML_WORD:80",
    "1:0:3c3f786d6c2076657273696f6e3d22312e3022{0-1024}3c??3a576f726b626f6f6b:Microsoft Excel 2003 XM"
    "L Document:CL_TYPE_ANY:CL_TYPE_XML_XL:80",
    "1:0:3c3f786d6c2076657273696f6e3d22312e3022{0-1024}3c??3a776f7264446f63756d656e74:Microsoft Word "
    "2003 XML Document:CL_TYPE_ANY:CL_TYPE_XML_WORD:80",
    "0:512:4546492050415254:Disk Image - GUID Partition Table:CL_TYPE_ANY:CL_TYPE_GPT:77",
    "1:*:3c7864703a786470:Adobe XDP - Embedded PDF:CL_TYPE_ANY:CL_TYPE_XDP:79",
    "1:0:4552{510}504d0000:Disk Image - Apple Partition Map:CL_TYPE_ANY:CL_TYPE_APM:77",
    "1:510:55aa:Disk Image - Master Boot Record:CL_TYPE_ANY:CL_TYPE_MBR:77",
    "0:4:d0cf11e0a1b11ae1:HWP embedded OLE2:CL_TYPE_ANY:CL_TYPE_HWPOLE2:82",
    "1:0:efbbbf3c3f786d6c2076657273696f6e3d22312e3022*3c4857504d4c:HWPML Document:CL_TYPE_ANY:CL_TYPE"
    "_XML_HWP:82",
    "0:0:48575020446f63756d656e742046696c652056332e3030201a0102030405:HWP3 Document:CL_TYPE_ANY:CL_TY"
    "PE_HWP3:82",
    "0:0:7b5c7274:RTF:CL_TYPE_ANY:CL_TYPE_RTF:30",
    "0:0:cafebabe:Universal Binary/Java Bytecode:CL_TYPE_ANY:CL_TYPE_MACHO_UNIBIN:46:74",
    "0:0:252150532d41646f62652d:PostScript:CL_TYPE_ANY:CL_TYPE_ANY:51:82",
    "0:0:252150532d41646f62652d:PostScript:CL_TYPE_ANY:CL_TYPE_PS:83:83",
    "0:0:252150532d41646f62652d:PostScript:CL_TYPE_ANY:CL_TYPE_PS:90",
    "1:0:(4d|6d)(49|69)(4d|6d)(45|65)2d(56|76)657273696f6e3a20{-1024}0a(43|63)6f6e74656e742d(54|74)79"
    "70653a20:MHTML file:CL_TYPE_ANY:CL_TYPE_MHTML:83:83",
    "1:*:0a(4d|6d)(49|69)(4d|6d)(45|65)2d(56|76)657273696f6e3a20{-1024}0a(43|63)6f6e74656e742d(54|74)"
    "7970653a20:MHTML file:CL_TYPE_ANY:CL_TYPE_MHTML:83:83",
    "1:0:(4d|6d)(49|69)(4d|6d)(45|65)2d(56|76)657273696f6e3a20{-1024}0a(43|63)6f6e74656e742d(54|74)79"
    "70653a20:MHTML file:CL_TYPE_ANY:CL_TYPE_MHTML:90",
    "1:*:0a(4d|6d)(49|69)(4d|6d)(45|65)2d(56|76)657273696f6e3a20{-1024}0a(43|63)6f6e74656e742d(54|74)"
    "7970653a20:MHTML file:CL_TYPE_ANY:CL_TYPE_MHTML:90",
    "0:0:252150532d41646f62652d:PostScript:CL_TYPE_ANY:CL_TYPE_ANY:84:85",
    "0:0:4C0000000114020000000000C000000000000046:Microsoft Windows Shortcut File:CL_TYPE_ANY:CL_TYPE"
    "_LNK:100",
    "0:0:435753:SWF (zlib compressed):CL_TYPE_ANY:CL_TYPE_SWF:71",
    "0:0:45474741:Egg Archive:CL_TYPE_ANY:CL_TYPE_EGG:115",
    "0:0:89504e47:PNG:CL_TYPE_ANY:CL_TYPE_GRAPHICS::121",
    "0:0:89504e47:PNG:CL_TYPE_ANY:CL_TYPE_PNG:122",
    "0:0:474946:GIF:CL_TYPE_ANY:CL_TYPE_GRAPHICS::121",
    "0:0:474946:GIF:CL_TYPE_ANY:CL_TYPE_GIF:122",
    "0:0:ffd8ff:JPEG:CL_TYPE_ANY:CL_TYPE_GRAPHICS::121",
    "0:0:ffd8ff:JPEG:CL_TYPE_ANY:CL_TYPE_JPEG:122",
    "0:0:49492a00:TIFF Little Endian:CL_TYPE_ANY:CL_TYPE_TIFF:122",
    "0:0:4d4d:TIFF Big Endian:CL_TYPE_ANY:CL_TYPE_TIFF:122",
    "0:0:7b20224d61676963223a2022434c414d4a534f4e763022:Internal properties:CL_TYPE_ANY:CL_TYPE_INTER"
    "NAL:78:119",
    "0:0:7b0a2020224d61676963223a22434c414d4a534f4e763022:Internal properties:CL_TYPE_ANY:CL_TYPE_INT"
    "ERNAL:120",
    "0:0:5a5753:SWF (LZMA compressed):CL_TYPE_ANY:CL_TYPE_SWF:81",
    "0:0:49492a00:TIFF Little Endian:CL_TYPE_ANY:CL_TYPE_GRAPHICS:81:121",
    "0:0:4d4d:TIFF Big Endian:CL_TYPE_ANY:CL_TYPE_GRAPHICS:81:121",
    "1:*:377abcaf271c:7zip-SFX:CL_TYPE_ANY:CL_TYPE_7ZSFX:74",
    "1:0:3c3f786d6c2076657273696f6e3d22312e3022{0-1024}70726f6769643d22576f72642e446f63756d656e74223f"
    "3e:Microsoft Word 2003 XML Document:CL_TYPE_ANY:CL_TYPE_XML_WORD:80",
    "0:0:e4525c7b8cd8a74daeb15378d02996d3:Microsoft OneNote Document:CL_TYPE_ANY:CL_TYPE_ONENOTE:200",
)

_PYC_MAGICS = (
    "02099900 03099900 892e0d0a 04170d0a 994e0d0a fcc40d0a fdc40d0a 87c60d0a 88c60d0a 2aeb0d0a 2beb0d0a "
    "2ded0d0a 2eed0d0a 3bf20d0a 3cf20d0a 45f20d0a 59f20d0a 63f20d0a 6df20d0a 6ef20d0a 77f20d0a 81f20d0a "
    "8bf20d0a 8cf20d0a 95f20d0a 9ff20d0a a9f20d0a b3f20d0a b4f20d0a c7f20d0a d1f20d0a d2f20d0a dbf20d0a "
    "e5f20d0a eff20d0a f9f20d0a 03f30d0a 04f30d0a 0af30d0a b80b0d0a c20b0d0a cc0b0d0a d60b0d0a e00b0d0a "
    "ea0b0d0a f40b0d0a f50b0d0a ff0b0d0a 090c0d0a 130c0d0a 1d0c0d0a 1f0c0d0a 270c0d0a 3b0c0d0a 450c0d0a "
    "4f0c0d0a 580c0d0a 620c0d0a 6c0c0d0a 760c0d0a 800c0d0a 8a0c0d0a 940c0d0a 9e0c0d0a b20c0d0a bc0c0d0a "
    "c60c0d0a d00c0d0a da0c0d0a e40c0d0a ee0c0d0a f80c0d0a 020d0d0a 0c0d0d0a 160d0d0a 170d0d0a 200d0d0a "
    "210d0d0a 2a0d0d0a 2b0d0d0a 2c0d0d0a 2d0d0d0a 2f0d0d0a 300d0d0a 310d0d0a 320d0d0a 330d0d0a 3e0d0d0a "
    "3f0d0d0a f00d0d0a 00010d0a 50010d0a"
)
_PYC = ":Python byte-compiled (.pyc):CL_TYPE_ANY:CL_TYPE_PYTHON_COMPILED:200"
BUILTIN_LINES: tuple[str, ...] = (
    *_BUILTIN_LINES,
    *(f"0:0:{magic}{_PYC}" for magic in _PYC_MAGICS.split()),
    "1:0:??0d0d0a:Python 3.7 or newer byte-compiled (.pyc):CL_TYPE_ANY:CL_TYPE_PYTHON_COMPILED:200",
)

# libclamav's cli_file_t order: in body-magic typing a bigger number wins, and every type from SFX on wins
# regardless (so the last embedded SFX marker decides).
_ORDER = (
    "TEXT_ASCII TEXT_UTF8 TEXT_UTF16LE TEXT_UTF16BE BINARY_DATA ERROR MSEXE ELF MACHO MACHO_UNIBIN POSIX_TAR "
    "OLD_TAR CPIO_OLD CPIO_ODC CPIO_NEWC CPIO_CRC GZ ZIP BZ RAR ARJ MSSZDD MSOLE2 MSCAB MSCHM SIS SCRENC "
    "GRAPHICS GIF PNG JPEG TIFF RIFF BINHEX TNEF CRYPTFF PDF UUENCODED SCRIPT HTML_UTF16 RTF 7Z SWF JAVA "
    "XAR XZ OOXML_WORD OOXML_PPT OOXML_XL INTERNAL HWP3 OOXML_HWP PS EGG PART_ANY PART_HFSPLUS MBR "
    "HTML MAIL SFX ZIPSFX RARSFX 7ZSFX CABSFX ARJSFX EGGSFX NULSFT AUTOIT ISHIELD_MSI ISO9660 DMG GPT "
    "APM XDP XML_WORD "
    "XML_XL XML_HWP HWPOLE2 MHTML LNK UDF ONENOTE PYTHON_COMPILED LHA_LZH ALZ OTHER IGNORED"
)
_RANK = {f"CL_TYPE_{name}": rank for rank, name in enumerate(_ORDER.split())}
_RANK_SFX = _RANK["CL_TYPE_SFX"]
_ANY = "CL_TYPE_ANY"

_TEXT = frozenset({FileType.TEXT_ASCII, FileType.TEXT_UTF8, FileType.TEXT_UTF16LE, FileType.TEXT_UTF16BE})
_TEXTISH = _TEXT | {FileType.BINARY_DATA}
_HTML = frozenset({FileType.HTML, FileType.HTML_UTF16})


class MagicRuleLike(Protocol):
    """What `identify` needs of a user `.ftm` line (the ftm parser's `MagicRule` fits)."""

    @property
    def magictype(self) -> int: ...
    @property
    def offset(self) -> object: ...  # int or the offset text ("*", "n", "n,m", "EOF-n")
    @property
    def magic(self) -> object: ...  # hex text (body syntax for type 1) or raw bytes
    @property
    def rtype(self) -> object: ...  # FileType or CL_TYPE_ name
    @property
    def ftype(self) -> object: ...  # FileType or CL_TYPE_ name


@dataclass(frozen=True, slots=True)
class _Fixed:
    offset: int
    magic: bytes
    ftype: FileType


@dataclass(frozen=True, slots=True)
class _Body:
    lo: int | None  # None: anywhere
    span: int
    from_eof: bool
    regex: re.Pattern[bytes]
    rtype: str
    ftype: FileType


@dataclass(frozen=True, slots=True)
class _Table:
    fixed: tuple[_Fixed, ...]  # already in lookup order (last line first)
    body: tuple[_Body, ...]


# --- the body-signature subset used by .ftm type-1 lines, compiled to a bytes regex --------------------


def _nibbles(pair: str) -> bytes:
    if pair == "??":
        return b"."
    if pair[1] == "?":
        high = int(pair[0], 16) << 4
        return b"[" + re.escape(bytes([high])) + b"-" + re.escape(bytes([high | 15])) + b"]"
    if pair[0] == "?":
        low = int(pair[1], 16)
        return b"[" + b"".join(re.escape(bytes([h << 4 | low])) for h in range(16)) + b"]"
    return re.escape(bytes.fromhex(pair))


def _closing(sig: str, start: int) -> int:
    depth = 0
    for pos in range(start, len(sig)):
        depth += {"(": 1, ")": -1}.get(sig[pos], 0)
        if depth == 0:
            return pos
    raise ValueError(f"unbalanced '(' in magic {sig!r}")


def _members(inner: str) -> list[str]:
    parts, depth, last = [], 0, 0
    for pos, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(inner[last:pos])
            last = pos + 1
    return [*parts, inner[last:]]


def _gap(spec: str) -> bytes:
    low, _, high = spec.partition("-")
    if "-" not in spec:
        return b".{%d}" % int(spec)
    return b".{%d,%s}" % (int(low or 0), high.encode() if high else b"")


def _alternative(inner: str, negated: bool) -> bytes:
    members = _members(inner)
    if not negated:
        return b"(?:" + b"|".join(_hex_regex(member) for member in members) + b")"
    width = len(members[0]) // 2
    return b"(?!(?:" + b"|".join(_hex_regex(member) for member in members) + b"))" + b".{%d}" % width


def _hex_regex(sig: str) -> bytes:
    """Translate ClamAV body-signature hex into a regex so type-1 magic can be tested without an AC trie."""
    out: list[bytes] = []
    pos = 0
    while pos < len(sig):
        char = sig[pos]
        if char == "*":
            out.append(b".*?")
            pos += 1
        elif char in "{[":
            end = sig.index("}" if char == "{" else "]", pos)
            out.append(_gap(sig[pos + 1 : end]))
            pos = end + 1
        elif char in "(!":
            start = pos + (char == "!")
            end = _closing(sig, start)
            out.append(_alternative(sig[start + 1 : end], negated=char == "!"))
            pos = end + 1
        else:
            out.append(_nibbles(sig[pos : pos + 2]))
            pos += 2
    return b"".join(out)


# --- table construction ----------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return value.value if isinstance(value, FileType) else str(value)


def _in_level(fields: Sequence[str]) -> bool:
    low = int(fields[0]) if len(fields) > 0 and fields[0] else 0
    high = int(fields[1]) if len(fields) > 1 and fields[1] else 10**9
    return low <= FLEVEL <= high


def _offset_spec(text: str) -> tuple[int | None, int, bool]:
    if text == "*":
        return None, 0, False
    from_eof = text.startswith("EOF-")
    base, _, span = text.removeprefix("EOF-").partition(",")
    return int(base), int(span or 0), from_eof


@cache
def _compile(magictype: int, offset: str, magic: str, rtype: str, ftype: str) -> _Fixed | _Body | None:
    target = FileType.from_clamav_name(ftype)
    if target is None or magictype not in (0, 1):
        return None
    if magictype == 0:
        return _Fixed(int(offset), bytes.fromhex(magic), target)
    lo, span, from_eof = _offset_spec(offset)
    regex = re.compile(_hex_regex(magic.lower()), re.DOTALL)
    return _Body(lo, span, from_eof, regex, rtype, target)


def _compile_line(line: str) -> _Fixed | _Body | None:
    fields = line.split(":")
    if not _in_level(fields[6:]):
        return None
    return _compile(int(fields[0]), fields[1], fields[2], fields[4], fields[5])


def _compile_rule(rule: MagicRuleLike) -> _Fixed | _Body | None:
    magic = rule.magic.hex() if isinstance(rule.magic, bytes) else str(rule.magic)
    rtype, ftype = _type_name(rule.rtype), _type_name(rule.ftype)
    return _compile(int(rule.magictype), str(rule.offset), magic, rtype, ftype)


def _assemble(compiled: Iterable[_Fixed | _Body | None]) -> _Table:
    rules = [rule for rule in compiled if rule is not None]
    fixed = tuple(reversed([rule for rule in rules if isinstance(rule, _Fixed)]))
    return _Table(fixed, tuple(rule for rule in rules if isinstance(rule, _Body)))


@cache
def _builtin_table() -> _Table:
    return _assemble(_compile_line(line) for line in BUILTIN_LINES)


def _table_for(extra_rules: Sequence[MagicRuleLike]) -> _Table:
    """User type-0 lines replace the built-in table wholesale; user type-1 lines are added to it."""
    if not extra_rules:
        return _builtin_table()
    user = _assemble(_compile_rule(rule) for rule in extra_rules)
    if user.fixed:
        return user
    builtin = _builtin_table()
    return _Table(builtin.fixed, user.body + builtin.body)


# --- the three typing steps ------------------------------------------------------------------------------


def _fixed_type(table: _Table, buf: bytes) -> FileType | None:
    for rule in table.fixed:
        if buf[rule.offset : rule.offset + len(rule.magic)] == rule.magic and len(rule.magic) > 0:
            return rule.ftype
    return None


# Bytes that never occur in text (file(1)'s table as ClamAV uses it); everything else counts as "ASCII".
_NOT_TEXT = bytes([*range(0x00, 0x07), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_NOT_TEXT_SET = frozenset(_NOT_TEXT)


def _is_ascii(buf: bytes) -> bool:
    return not buf.translate(None, delete=bytes(set(range(256)) - _NOT_TEXT_SET))


def _utf8_trail(buf: bytes, pos: int) -> int:
    lead = buf[pos]
    for following, mask in ((1, 0x20), (2, 0x10), (3, 0x08), (4, 0x04), (5, 0x02)):
        if not lead & mask:
            return following
    return -1


def _is_utf8(buf: bytes) -> bool:
    """ClamAV's td_isutf8: valid sequences, no control bytes, at least one multi-byte character."""
    pos, gotone = 0, False
    while pos < len(buf):
        byte = buf[pos]
        if byte < 0x80:
            if byte in _NOT_TEXT_SET:
                return False
        elif not byte & 0x40:
            return False
        else:
            following = _utf8_trail(buf, pos)
            if following < 0:
                return False
            for _ in range(following):
                pos += 1
                if pos >= len(buf):
                    return gotone
                if buf[pos] & 0xC0 != 0x80:
                    return False
            gotone = True
        pos += 1
    return gotone


def _utf16_kind(buf: bytes) -> FileType | None:
    """ClamAV's td_isutf16: without a BOM the data is read big-endian from byte 2 on, which is why
    `00 01 02 03` is "UTF-16BE text"."""
    if len(buf) < 2:
        return None
    big = buf[:2] != b"\xff\xfe"
    bom = buf[:2] in (b"\xff\xfe", b"\xfe\xff")
    bad = 0
    for pos in range(2, len(buf) - 1, 2):
        pair = buf[pos : pos + 2]
        unit = int.from_bytes(pair, "big" if big else "little")
        if unit == 0xFFFE:
            return None
        if unit < 128 and unit in _NOT_TEXT_SET:
            if not bom:
                return None
            bad += 1
    if bom and bad >= len(buf) // 2:
        return None
    return FileType.TEXT_UTF16BE if big else FileType.TEXT_UTF16LE


def text_type(buf: bytes) -> FileType:
    """The fallback when no fixed magic matched (libclamav's cli_texttype)."""
    if _is_ascii(buf):
        return FileType.TEXT_ASCII
    if _is_utf8(buf):
        return FileType.TEXT_UTF8
    return _utf16_kind(buf) or FileType.BINARY_DATA


def _from_octal(field: bytes) -> int:
    text = field.decode("latin-1")
    stripped = text.lstrip(" \t\n\v\f\r")
    if not stripped or len(text) - len(stripped) >= len(field):
        return -1
    digits = re.match(r"[0-7]*", stripped)
    value_text = digits.group(0) if digits else ""
    rest = stripped[len(value_text) :]
    if rest and rest[0] not in "\0 \t\n\v\f\r":
        return -1
    return int(value_text or "0", 8)


def _tar_kind(buf: bytes) -> FileType | None:
    """file(1)'s is_tar, as ClamAV runs it on data it would otherwise call binary."""
    if len(buf) < 512:
        return None
    total = sum(buf[:512]) - sum(buf[148:156]) + ord(" ") * 8
    if total != _from_octal(buf[148:156]):
        return None
    return FileType.POSIX_TAR if buf[257:265] == b"ustar  \0" else FileType.OLD_TAR


_OOXML_PREFIXES = (
    (b"xl/", FileType.OOXML_XL),
    (b"ppt/", FileType.OOXML_PPT),
    (b"word/", FileType.OOXML_WORD),
    (b"Contents/content.hpf", FileType.OOXML_HWP),
)


def _zip_kind(buf: bytes) -> FileType:
    """OOXML documents are zips whose first three local headers name `word/`, `xl/`, `ppt/` entries."""
    pos, seen = 0, 0
    while seen < 3 and len(buf) > 70:
        pos = buf.find(b"PK\x03\x04", pos)
        if pos < 0 or len(buf) - (pos + 30) <= 22:
            break
        name = buf[pos + 30 : pos + 30 + 22]
        for prefix, ftype in _OOXML_PREFIXES:
            if name.startswith(prefix):
                return ftype
        pos, seen = pos + 30, seen + 1
    return FileType.ZIP


def _first_end(rule: _Body, buf: bytes, size: int) -> int | None:
    if rule.lo is None:
        found = rule.regex.search(buf)
        return found.end() if found else None
    low = size - rule.lo if rule.from_eof else rule.lo
    if low < 0:
        return None
    found = rule.regex.search(buf, low)
    if found is None or found.start() > low + rule.span:
        return None
    return found.end()


def _body_type(rules: Sequence[_Body], buf: bytes, size: int, base: str) -> FileType | None:
    """Fold type-1 hits in match order: a bigger type number wins, SFX-and-up and MSEXE always win."""
    hits = []
    for index, rule in enumerate(rules):
        if rule.rtype not in (_ANY, base):
            continue
        end = _first_end(rule, buf, size)
        if end is not None:
            hits.append((end, index, rule.ftype))
    best, best_rank = None, -1
    for _end, _index, ftype in sorted(hits):
        if ftype is FileType.IGNORED:
            return ftype
        rank = _RANK.get(ftype.value, 0)
        if rank > best_rank or rank >= _RANK_SFX or ftype is FileType.MSEXE:
            best, best_rank = ftype, rank
    return best


def _utf16_squash(buf: bytes) -> bytes:
    """cli_utf16toascii's lossy view ((high << 4) + low per pair): only UTF-16LE ASCII survives it."""
    even = len(buf) - len(buf) % 2
    return bytes(((buf[i + 1] << 4) + buf[i]) & 0xFF for i in range(0, even, 2))


_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF8, "utf-8"),
)


def _bom_ascii(buf: bytes) -> bytes | None:
    if len(buf) < 4:
        return None
    for bom, codec in _BOMS:
        if buf.startswith(bom):
            text = buf[len(bom) :].decode(codec, errors="ignore")
            return text.encode("ascii", errors="replace")
    return None


def _retype_textish(table: _Table, buf: bytes, size: int, base: FileType) -> FileType:
    found = _body_type(table.body, buf, size, base.value)
    if found is not None:
        return found
    squashed = _utf16_squash(buf)
    if squashed and _body_type(table.body, squashed, size, FileType.TEXT_ASCII.value) is FileType.HTML:
        return FileType.HTML_UTF16
    decoded = _bom_ascii(buf)
    if decoded and _body_type(table.body, decoded, size, _ANY) is FileType.HTML:
        return FileType.HTML
    return base


# ISO 9660: the primary volume descriptor (type 1, "CD001") at 32768 and the next descriptor 2048 bytes on,
# as in the ISO9660 body magic; the window is the magic's longest reach from 32768.
_ISO_AT = 32768
_ISO_MAGIC = re.compile(rb"\x01CD001.{2043,2443}CD001", re.DOTALL)


def _is_iso(data: bytes) -> bool:
    """clamscan types an ISO image as binary data, then its raw scan hits the ISO9660 body magic at 32768
    and it scans the image as ISO. That offset is past the 1024 typing bytes, so it gets its own look."""
    return _ISO_MAGIC.match(bytes(data[_ISO_AT : _ISO_AT + 6 + 2443 + 5])) is not None


def identify(data: bytes, extra_rules: Sequence[MagicRuleLike] = ()) -> FileType:
    """Type `data` the way clamscan 1.4.6 types a layer (its "Recognized ..." debug line), except that an
    ISO 9660 image is ISO9660 where clamscan says binary data and finds the ISO in its raw scan."""
    table = _table_for(extra_rules)
    buf = bytes(data[:MAGIC_BUFFER_SIZE])
    ftype = _fixed_type(table, buf)
    if ftype is FileType.ZIP and len(buf) > 70:
        return _zip_kind(buf)
    if ftype is None:
        ftype = text_type(buf)
        if ftype is FileType.BINARY_DATA:
            ftype = _tar_kind(buf) or ftype
    if ftype not in _TEXTISH:
        return ftype
    ftype = _retype_textish(table, buf, len(data), ftype)
    if ftype is FileType.BINARY_DATA and _is_iso(data):
        return FileType.ISO9660
    return ftype


# --- what the matcher needs to know about a type ---------------------------------------------------------

_TARGET_OF: dict[FileType, int] = {
    FileType.MSEXE: 1,
    FileType.MSOLE2: 2,
    FileType.HTML: 3,
    FileType.HTML_UTF16: 3,
    FileType.MAIL: 4,
    **dict.fromkeys((FileType.GRAPHICS, FileType.GIF, FileType.PNG, FileType.JPEG, FileType.TIFF), 5),
    FileType.ELF: 6,
    **dict.fromkeys(_TEXT, 7),
    FileType.MACHO: 9,
    FileType.MACHO_UNIBIN: 9,
    FileType.PDF: 10,
    FileType.SWF: 11,
    FileType.JAVA: 12,
    FileType.INTERNAL: 13,
    FileType.BINARY_DATA: 14,  # clamscan 1.4.6: a target-14 ("other") signature hits unknown binary data
}


def target_type_of(ftype: FileType) -> int:
    """The `.ndb` target type (besides 0) whose signatures apply to a layer of this type; 0 if none."""
    return _TARGET_OF.get(ftype, 0)


def is_text(ftype: FileType) -> bool:
    """Text layers also get the normalised-text pass (clamscan's cli_scanscript)."""
    return ftype in _TEXT


def is_html(ftype: FileType) -> bool:
    """HTML layers are matched on the normalised HTML view only, never on their raw bytes."""
    return ftype in _HTML
