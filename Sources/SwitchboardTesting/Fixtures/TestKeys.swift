/// Fixed key pairs for token tests, generated once with OpenSSL
/// (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`,
/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
/// Test keys only: they protect nothing.
package enum TestKeys {
    package static let rsaPrivate = """
        -----BEGIN PRIVATE KEY-----
        MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCd0VdNRULGxyqy
        Ok6p/Pe3AocKVUGl8yu2SbsZ80vOf2LLGpiCKEwaQvvbysYoPFTGQj4sJZQ/HCmP
        WQFIDn/7WNcpH4PybPFHrdrJEKhPFaYDMpmYiI3C/pIc8usC73jAX8IEAeoHw8v/
        ltD7XygMSLYr1iBd8ZaMQ0GVbdRqMvXA0YIJoPzWUcyOu0EdIjRMUPR4FcAklYuE
        9PTrBnx3Jte9qx4+b+LF3qvKvZwRiHhLl8hpWPHVsvSx3uVhm9euloF5Ip4a+AoL
        G5bjFwM0BsIUxx4p6JAWWe2K0GaQJolP58MzIJ2FgnmFcrXdBt+OMdj4KR09pvSk
        HNQFbCt9AgMBAAECggEALJ7PKaw+/Je8RScCLcK1wRsoVi4TwRlXTxNaoLQux0Qy
        CQ3Md+Rv2+77acHTs/WW3HVHQdEgMJXEVGDMYXSkD8snDlv4QPc3YtZPaRDaHX4X
        8YiBb+SP/EVgx2mRM8PEZtPMNbja0/Yye+HG1YOqfYqjYxKIFTekoqSzas3iRGIR
        ULpSiznWJYRCmZVyfDt4cVOo4GBFd6EWqOZvXPsrnr15Cp3t9m93JyiBAcVt6KUe
        1GIHlwn+16pn/WaP5fEuHBB50Z4f4FaT2VZ3s6qLz5OJMLTJ/JHGKUhQInIx4RoN
        czbMKVCrYgJQY44dtdcn58M9nXYwrN9wqakO6Bv92wKBgQDUM/6AbkVq+q7nY3E8
        K/XXADltmvRZMYIcU3cXnbhtM2+aUuM6i/gDXF/7ZhRKtSM8pQp5SexSz82JYH2B
        aX1CXJtgQFnuiA5yrvqeCNMqgaF/KixwSdikWCuWNsQpK1BHcNPpUU28PcOfsGcO
        RygoTufXLtry/oPWZvhlnROI0wKBgQC+Y9Sx6OMCBEbcDYW3aYX9+JEoivO3JtJ+
        /ep7DxXAfO7DAgCMBh33EehLdwYDMmwwiupYWAbHk71YJOuiXkXAGPZC5YRPvbUj
        D0DWcwswK4HNGUnB4eq0bjcp5frJNK0NCwBhIyd1J8CWEUaFJm775isPrqhG2C/l
        sj32Q1XIbwKBgHvfcjSkqm89sTYvzZ0ziEoevmdmKjea9/nzGzU1A8DzYrWypyS5
        KmlD1l/aAgRuYwh2y3tsFMFuvuvv4LPX0aAYkTcJubXNxKlbzb7NJf/NNmoWQ2S1
        Jvsg4SjKBY6G01Ew4vNzW66EW5rvjek+zolhLmNl3bg1rN5Os7gVjp6zAoGBAJps
        1OcdE4veNi9klHHpGHKgO/Ubh4Sl65RvldIMsUL40py/sfvhNkrhbn5PY0QSkOhq
        tJvFgnI8phapk6qWNpMSbCRkj4YyRIrUY23N0GRY1aaq/UVSXhHNV9cXH+w1Wqu6
        oasoXWfMP4w5JO749opA7eqBayJTVb5EbbeidCDnAoGAIakWjPWaTCg+26JxkxYl
        997cqFueKOO+t5N7Bsy+aFbD8Fd1ifunwarsNu91ioqLCuNUJDG/5KAgScJk9nhO
        ytDb9MwHtHUx+Exrnlw4dGoBGSBwYYUugzSYbWdtZe+a26t/KC6K/yl2B2OmBp2U
        I+OkilItZO5c3W9W09VXNcg=
        -----END PRIVATE KEY-----
        """

    package static let rsaPublic = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAndFXTUVCxscqsjpOqfz3
        twKHClVBpfMrtkm7GfNLzn9iyxqYgihMGkL728rGKDxUxkI+LCWUPxwpj1kBSA5/
        +1jXKR+D8mzxR63ayRCoTxWmAzKZmIiNwv6SHPLrAu94wF/CBAHqB8PL/5bQ+18o
        DEi2K9YgXfGWjENBlW3UajL1wNGCCaD81lHMjrtBHSI0TFD0eBXAJJWLhPT06wZ8
        dybXvasePm/ixd6ryr2cEYh4S5fIaVjx1bL0sd7lYZvXrpaBeSKeGvgKCxuW4xcD
        NAbCFMceKeiQFlntitBmkCaJT+fDMyCdhYJ5hXK13QbfjjHY+CkdPab0pBzUBWwr
        fQIDAQAB
        -----END PUBLIC KEY-----
        """

    package static let otherRSAPrivate = """
        -----BEGIN PRIVATE KEY-----
        MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCu7YC4+GU6udXU
        e8V11RYWdyy7ycmIoi8PrZi6YeXkKST+leYqcYiratf/AFvahK5C9hDnx73QvI2u
        QLEl+RaOLZOINoxqeLQpflDbtGrBOvoIJDf8ln0rLUrdDXiW0kjMLsTx8quEqHWi
        6CaIEtGjvJIw7ogaEaxuwdpOqIUm3ng3JlIUd7WAEn6xbSZi8wzIS+LoYIc4KsS9
        toqGdOVeVvmmXVIgld5wVNlkZ3IcTJHvJfuKWdo5bu3Y5sFFC0i9Q8x5kO9IKjiU
        SdCMw5nQuTq7a8U9wgAkbDCIkZxvaYlc7UfGtIFXv8GCOtPKI/S/07oVqFtqL4Ke
        zUAYchgvAgMBAAECggEAVbxQX9hW/S6CEE/NmxAicEZe5XdkUJR1DnEeLxO2clp8
        KE9d7SWSP7nxPal2W6a2JlmmNYPfk8QmiOZqLNtl46+Q5K0fqzuXydKAXP6TaDu4
        um7OBf3YQWZEkA1/MiTEy1aM7qzqxe0vIvY3lG/s0hylZlgy2twYsHxQvEa6ZC7M
        MidB+1tb6i08Sc8UVrYSOS9QJ5PiK3cGOzIOuMNVCSL3tG1Yzlbp9wszXFtHp5oE
        gbQijPIoMoXQ4VH3KJ5O1EQadepy8d5BbvL4Ri4PAowiGzNy6S8hAsg+uLR69EPs
        H7GQtnc6lO4EasELQ47xPvifiZ7bPhyGg89XUFLIIQKBgQDXeKYA/mUQhEicOa0g
        nlR0eFJpcsAcHFHdSCPEMH90njlD1xXc6A3twzqBcIWJJtKduXq1OrH44Rxt3YYh
        nppaw+AovHDgVzdkw7ghVvki7LCKwKK8FVX8eHYEfWIZxiWEIJ/LrfURdg/IEeu+
        U96RFpycSFHlzwmZCTrfor6knwKBgQDP1JskaQU8q3F2mGZSDqgCBctyHr8xKkNi
        Sf/yVLL3JH0OEJd9SfB+jliLjZeVPIW5fWqnKQlBQcR3POgpzZfmDjcK3FX/4CmT
        9WL6rvxm7iWEZdL5KlGFXbQXAvma3iF74s/BxNuDtZflB5rqvR0QN5seQy1P5JWS
        vfC3EB/ScQKBgATBDria5FP29zsrMpyzoZ1oQjk9ZOu53DyLqO5dO5KxIwZSKpNT
        M2t5kULl3qxmBOOiAgkZoG+jV+M8rgbz3uf9xmZfsgXhJsG8Z8Wki56vpj2Jfo2z
        0s/dQI1czttOuekuZxgxYGTgO/zoGFF8vD5rR01Tcysk5EtSHtBsYNR1AoGBAL7x
        oqhNJNac3V4MntV9SbayBD0RKq/NGKPRQSovz01pZMvrSoN9z0s3FPsCV+Zw+Jt3
        MunptesStaKnftYJYimnncKItSqllQ2vQgT3iEY5Ppbpxm/OBZ/2e2M5BILY2wKr
        XB2288eKq8dsuVQ5893WeNnQ9myUoydzAxnt4o7BAoGBANHbbHAyv+2EXtPIIey3
        hSzAmwelB/SzeKy6b50ElUBCfWAZLtXged1fxC6ZenL6gmfCannHqMcL9tzn1ESt
        0FoUDf5xEGT0qKRb24V0Gh8aznl+k1ZoQbB+TcgvKYnDQLJhhUCrncAW62PvKpse
        CT5N9cPaLu+x2wRGvLEIz/mv
        -----END PRIVATE KEY-----
        """

    package static let ecPrivate = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5JI4sZJE0gqouEks
        tYqO6KRG/2q+tdylzLaNhmr33fehRANCAARwCMckeS2+XxoAkuZ1u5+MjLy8nArU
        caGyC+zVTe5lRfWgGhgsMfMZEzwIljn8t1h0DBDepd55nTzqJWw6SmNe
        -----END PRIVATE KEY-----
        """

    package static let ecPublic = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcAjHJHktvl8aAJLmdbufjIy8vJwK
        1HGhsgvs1U3uZUX1oBoYLDHzGRM8CJY5/LdYdAwQ3qXeeZ086iVsOkpjXg==
        -----END PUBLIC KEY-----
        """

    package static let otherECPrivate = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcXLJQUI/VVyrKlJE
        5lfjgDJQTq5oJ3sOBZvAE/wJREuhRANCAAQRF26bcRuCOsy5cuIVu95ZmsASYqyG
        Iw5SdEU0R+uBtbd5FTb9OH5wOapl/TtiewGAuALNRAmQ50O18s0FiKtW
        -----END PRIVATE KEY-----
        """
}
