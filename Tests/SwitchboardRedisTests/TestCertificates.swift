import Foundation
import SwitchboardTesting

/// A certificate authority of its own for one test, made with the `openssl`
/// command in a temporary directory, and the certificates it issues:
/// servers' and clients', valid or expired. Tests fail (not skip) when
/// `openssl` is not installed.
struct TestCertificates: Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "openssl is not installed (or not at /usr/bin/openssl); install it with: apt-get install openssl"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    /// A certificate and its private key, as PEM files.
    struct Issued: Sendable {
        var certificateFile: String
        var keyFile: String
    }

    let directory: String
    /// The CA's certificate, the file to trust.
    var caFile: String { "\(directory)/\(name)-ca.pem" }
    private var caKeyFile: String { "\(directory)/\(name)-ca.key" }
    private let name: String

    /// Makes a CA named `name` in `directory` (a new temporary one by default).
    static func makeAuthority(name: String = "test", in directory: String? = nil) async throws -> TestCertificates {
        let directory = directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("switchboard-tls-\(UInt32.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let authority = TestCertificates(directory: directory, name: name)
        try await authority.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", authority.caKeyFile, "-out", authority.caFile, "-days", "2", "-subj", "/CN=Switchboard \(name) CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        return authority
    }

    /// A certificate for `names` (DNS names, or IP addresses) signed by this
    /// CA, for servers and clients; `expired` makes one whose validity ended
    /// a day before it began.
    func issue(_ file: String, names: [String] = ["localhost", "127.0.0.1"], expired: Bool = false) async throws -> Issued {
        let issued = Issued(certificateFile: "\(directory)/\(file).pem", keyFile: "\(directory)/\(file).key")
        let request = "\(directory)/\(file).csr"
        let extensions = "\(directory)/\(file).ext"
        let alternativeNames = names.map { name in
            name.allSatisfy { $0.isNumber || $0 == "." } ? "IP:\(name)" : "DNS:\(name)"
        }
        try Data("""
        subjectAltName=\(alternativeNames.joined(separator: ","))
        basicConstraints=CA:FALSE
        extendedKeyUsage=serverAuth,clientAuth

        """.utf8).write(to: URL(fileURLWithPath: extensions))
        try await openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", issued.keyFile, "-out", request, "-subj", "/CN=\(names.first ?? file)",
        ])
        try await openssl([
            "x509", "-req", "-in", request, "-CA", caFile, "-CAkey", caKeyFile, "-CAcreateserial",
            "-out", issued.certificateFile, "-days", expired ? "-1" : "2", "-extfile", extensions,
        ])
        return issued
    }

    /// Removes the directory.
    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `openssl` with `arguments`, waiting without blocking a thread.
    private func openssl(_ arguments: [String]) async throws {
        let executable = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: executable) else { throw Missing() }
        let log = "\(directory)/openssl.log"
        let process = try ChildProcess(
            executable: executable, arguments: arguments, standardInput: .nullDevice, standardOutput: .file(log), standardError: .file(log)
        )
        let deadline = ContinuousClock.now + .seconds(30)
        while process.termination == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let termination = process.termination else {
            process.kill()
            throw Failed(description: "openssl \(arguments.first ?? "") did not finish within 30 s")
        }
        guard termination == .exited(0) else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Failed(description: "openssl \(arguments.joined(separator: " ")) failed (\(termination)): \(output)")
        }
    }
}
