//! Playlist parsing: M3U/M3U8 as saved by players, spreadsheets and Windows.

use std::fs;
use std::path::{Path, PathBuf};

use corong::playlist::{self, MAX_ENTRIES, MAX_LINE_BYTES};
use tempfile::TempDir;

/// A folder with `playlists/` and `media/` in it.
fn fixture() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("playlists")).unwrap();
    fs::create_dir(dir.path().join("media")).unwrap();
    dir
}

fn write_playlist(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join("playlists").join(name);
    fs::write(&path, bytes).unwrap();
    path
}

fn canonical(dir: &TempDir) -> PathBuf {
    dir.path().canonicalize().unwrap()
}

#[test]
fn comments_titles_and_blank_lines() {
    let dir = fixture();
    let path = write_playlist(
        &dir,
        "pagi.m3u8",
        "#EXTM3U\n# lagu pagi\n\n#EXTINF:185,Indonesia Raya\n../media/a.flac\n   \n#EXTINF:-1 tvg-id=\"x\",  Bagimu Negeri  \n../media/b.ogg\n#PLAYLIST:ignored\n../media/c.wav\n#EXTINF:12,\n../media/d.wav\n"
            .as_bytes(),
    );
    let p = playlist::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.path, path);
    // `playlists/../media` is folded: the log and the as-run rows show it.
    let media = canonical(&dir).join("media");
    let got: Vec<(PathBuf, usize, Option<&str>)> = p
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.line, e.title.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (media.join("a.flac"), 5, Some("Indonesia Raya")),
            (media.join("b.ogg"), 8, Some("Bagimu Negeri")),
            (media.join("c.wav"), 10, None),
            (media.join("d.wav"), 12, None),
        ]
    );
}

#[test]
fn crlf_and_bom() {
    let dir = fixture();
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend_from_slice(b"#EXTM3U\r\n#EXTINF:3,Gong\r\nchime.wav\r\n\r\nlagu satu.mp3\r\n");
    let path = write_playlist(&dir, "windows.m3u", &bytes);
    let p = playlist::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let folder = canonical(&dir).join("playlists");
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.entries[0].path, folder.join("chime.wav"));
    assert_eq!(p.entries[0].title.as_deref(), Some("Gong"));
    assert_eq!(p.entries[0].line, 3);
    assert_eq!(p.entries[1].path, folder.join("lagu satu.mp3"));
    assert_eq!(p.entries[1].line, 5);

    // A BOM directly before an entry is not part of its path.
    let path = write_playlist(&dir, "bom.m3u", b"\xef\xbb\xbf/srv/a.wav\r\n");
    let p = playlist::load(&path).unwrap();
    assert_eq!(p.entries[0].path, Path::new("/srv/a.wav"));
}

#[test]
fn relative_absolute_and_file_urls() {
    let dir = fixture();
    let path = write_playlist(
        &dir,
        "campur.m3u",
        b"sub/a.wav\n/srv/media/b.flac\nfile:///srv/media/lagu%20daerah%20%C3%A9.ogg\nfile://localhost/srv/c.wav\n",
    );
    let p = playlist::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<&Path> = p.entries.iter().map(|e| e.path.as_path()).collect();
    assert_eq!(
        got,
        [
            canonical(&dir).join("playlists/sub/a.wav").as_path(),
            Path::new("/srv/media/b.flac"),
            Path::new("/srv/media/lagu daerah é.ogg"),
            Path::new("/srv/c.wav"),
        ]
    );
}

#[test]
fn http_url_is_an_error_at_its_line_and_column() {
    let dir = fixture();
    let path = write_playlist(
        &dir,
        "radio.m3u",
        b"#EXTM3U\na.wav\n  https://radio.example/stream.mp3\nb.wav\nHTTP://x/y.mp3\n",
    );
    let errors = playlist::load(&path).unwrap_err();
    let places: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(places, [(3, 3), (5, 1)], "{errors}");
    for e in errors.iter() {
        assert_eq!(e.file, path);
        assert!(e.message.contains("http(s) URLs are not supported"), "{e}");
    }
    assert!(errors.to_string().contains("radio.m3u:3:3: error: "));
}

#[test]
fn oversize_line_is_an_error() {
    let dir = fixture();
    let mut text = b"a.wav\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
    text.extend_from_slice(b".wav\n");
    let path = write_playlist(&dir, "panjang.m3u", &text);
    let errors = playlist::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!((errors.0[0].line, errors.0[0].column), (2, 1));
    assert!(errors.0[0].message.contains("at most 4096"), "{errors}");
}

#[test]
fn too_many_entries_is_an_error() {
    let dir = fixture();
    let mut text = String::from("#EXTM3U\n");
    for i in 0..=MAX_ENTRIES {
        text.push_str(&format!("{i}.wav\n"));
    }
    let path = write_playlist(&dir, "banyak.m3u", text.as_bytes());
    let errors = playlist::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(errors.0[0].line, MAX_ENTRIES + 2);
    assert!(errors.0[0].message.contains("at most 10000"), "{errors}");

    // Exactly the limit is fine.
    let text: String = (0..MAX_ENTRIES).map(|i| format!("{i}.wav\n")).collect();
    let path = write_playlist(&dir, "pas.m3u", text.as_bytes());
    assert_eq!(playlist::load(&path).unwrap().entries.len(), MAX_ENTRIES);
}

#[test]
fn invalid_utf8_is_an_error() {
    let dir = fixture();
    let path = write_playlist(&dir, "latin1.m3u", b"a.wav\nlagu\xe9.wav\n");
    let errors = playlist::load(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!((errors.0[0].line, errors.0[0].column), (2, 5));
    assert!(errors.0[0].message.contains("UTF-8"));
}

#[test]
fn missing_media_is_not_a_load_error_but_check_reports_it() {
    let dir = fixture();
    fs::write(dir.path().join("media/ada.wav"), b"RIFF").unwrap();
    fs::create_dir(dir.path().join("media/folder.wav")).unwrap();
    let path = write_playlist(
        &dir,
        "cek.m3u",
        b"#EXTM3U\n../media/ada.wav\n../media/hilang.wav\n../media/folder.wav\n",
    );
    let p = playlist::load(&path).unwrap();
    assert_eq!(p.entries.len(), 3);
    let problems = playlist::check_media_paths(&p);
    let places: Vec<(usize, usize)> = problems.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(places, [(3, 1), (4, 1)], "{problems:#?}");
    assert!(problems[0].message.contains("hilang.wav: not found"));
    assert!(problems[1].message.contains("is not a file"));
    assert!(problems.iter().all(|d| d.file == path));
}

#[test]
fn missing_playlist_file_is_an_error() {
    let dir = fixture();
    let errors = playlist::load(&dir.path().join("playlists/tidak-ada.m3u")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors.0[0].message.contains("cannot read the playlist"));
}

#[test]
fn shipped_playlists_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["lagu-nasional.m3u", "demo.m3u"] {
        let p =
            playlist::load(&root.join("playlists").join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.entries.is_empty());
        for e in &p.entries {
            assert!(e.path.is_absolute());
            assert!(e
                .path
                .starts_with(root.canonicalize().unwrap().join("media")));
            assert!(e.title.is_some());
        }
    }
}
