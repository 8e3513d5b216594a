import Foundation

/// A freshly initialized data directory kept in repro's cache, copied into each new sandbox instead of running
/// `mariadb-install-db` again: the copy takes about 0.1 s, the install about half a second of a core (a bootstrap
/// `mariadbd` and its SQL), for every embedded server a run or a test starts.
///
/// A template is keyed by what makes the install what it is: both binaries (path, size, modification time) and the
/// install's arguments. A new MariaDB package, or another argument, is another key. Templates are published whole
/// (copied beside, renamed into place), so a reader sees a complete one or none; a copy that fails falls back to
/// the install. Location: `$REPRO_CACHE/datadir`, else `$XDG_CACHE_HOME/repro/datadir`, else
/// `~/.cache/repro/datadir`; about 25 MB per key. Nothing else of a run is kept there.
struct DataDirectoryTemplate {
    /// The cache directory holding the templates, or nil when no cache directory can be named.
    let root: String
    /// The key's directory name: a hash of the binaries and arguments.
    let key: String

    /// The template's directory (it holds the data directory's files).
    var path: String { root + "/" + key }

    /// What `ManagedServer.start` reads by default.
    static var defaultRoot: String? {
        let env = ProcessInfo.processInfo.environment
        if let cache = env["REPRO_CACHE"], !cache.isEmpty { return cache + "/datadir" }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/repro/datadir" }
        if let home = env["HOME"], !home.isEmpty { return home + "/.cache/repro/datadir" }
        return nil
    }

    init(root: String, installDB: String, mariadbd: String, arguments: [String]) {
        self.root = root
        var text = arguments.joined(separator: "\u{1}")
        for binary in [installDB, mariadbd] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: binary)
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
            text += "\u{1}\(binary)\u{1}\(size)\u{1}\(modified)"
        }
        key = "v1-" + stableHash(text)
    }

    /// Copies the template to `dataDirectory` (which must not exist); false when there is none or the copy failed
    /// (then nothing is left at `dataDirectory`).
    func copy(to dataDirectory: String) -> Bool {
        let files = FileManager.default
        guard files.fileExists(atPath: path + "/" + Self.marker) else { return false }
        do {
            try files.copyItem(atPath: path, toPath: dataDirectory)
            try files.removeItem(atPath: dataDirectory + "/" + Self.marker)
            return true
        } catch {
            try? files.removeItem(atPath: dataDirectory)
            return false
        }
    }

    /// Publishes `dataDirectory` (just installed, never started) as the template, unless one is there already.
    /// Failures are ignored: the next start installs again.
    func keep(_ dataDirectory: String) {
        let files = FileManager.default
        guard !files.fileExists(atPath: path) else { return }
        guard (try? files.createDirectory(atPath: root, withIntermediateDirectories: true)) != nil else { return }
        sweepAbandonedCopies()
        let staging = root + "/.copy-\(getpid())-\(UUID().uuidString)"
        do {
            try files.copyItem(atPath: dataDirectory, toPath: staging)
            guard files.createFile(atPath: staging + "/" + Self.marker, contents: Data(key.utf8)) else {
                try? files.removeItem(atPath: staging)
                return
            }
            // Atomic; fails when another process published the same key first, which is as good.
            if rename(staging, path) != 0 { try? files.removeItem(atPath: staging) }
        } catch {
            try? files.removeItem(atPath: staging)
        }
    }

    /// Staging copies left by a process killed while publishing (older than ten minutes).
    private func sweepAbandonedCopies() {
        let files = FileManager.default
        guard let names = try? files.contentsOfDirectory(atPath: root) else { return }
        for name in names where name.hasPrefix(".copy-") {
            let full = root + "/" + name
            let modified = (try? files.attributesOfItem(atPath: full))?[.modificationDate] as? Date
            if let modified, modified.timeIntervalSinceNow < -600 { try? files.removeItem(atPath: full) }
        }
    }

    /// Written last into a published template; a copy does not carry it.
    static let marker = "repro-template"
}
